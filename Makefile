# Face from Photo — one entry point for set-up, tests, build and the demo.
PY := .venv/bin/python
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
.PHONY: setup test test-fast lint build demo bench train finetune train-large evaluate evaluate-real evaluate-head export clean

setup:
	@bash tools/setup_venv.sh 2>&1 | sed "/^WARNING: Location/d"
	@test -x $(PY)

## The README's test command: set-up, then every test layer (core, Blender, lint, types, artist path).
test: setup
	$(PY) -m pytest

## Everything except the slow tests (zip build, artist path).
test-fast: setup
	$(PY) -m pytest -m "not slow"

lint: setup
	$(PY) -m ruff check .
	$(PY) tools/run_mypy.py

## Installable linux-x64 zip with bundled wheels, written to dist/.
build: setup
	$(PY) tools/build_extension.py

## The main job: reconstruct the bundled sample photo headless into out/.
demo: setup
	$(PY) tools/face_from_photo_cli.py reconstruct examples/astronaut.png -o out/ --format glb --format blend --preview --overwrite

## Train the shipped network from scratch on synthetic heads, on this 2-core CPU in under 3 h (with
## `make finetune` below, whose caps complete the budget: 20 + 145 + 10 = 175 min, 5 min left for the
## processes' start-up and the export):
## 73 728 samples rendered into shards by 2 processes (19 min on this host; stopped at 20 min on a slower
## one, each process keeping the samples it rendered), then 2 DDP
## processes of 1 thread each in two parts, each with a cosine lr timed to end with it:
## 1. 11 000 steps or 105 min, whichever comes first;
## 2. a warm restart from there (lr back to about 5.7e-4) up to 15 000 steps or 145 min of training in all.
## The normals' losses weigh each pixel by 1 + 3 min(1, θ / 20°), θ the largest angle between its ground-truth
## normal and a neighbour's (--loss.normal-detail-weight 3, the tenth round in docs/training-log.md).
## The shipped run: 9704 steps in 105 min, then 13 523 steps at 145 min (bfloat16 autocast), 164 min with the
## shards. Add --resume to TRAIN_ARGS to continue an interrupted run (the time spent counts; a part already
## over its time takes one step and stops).
TRAIN_DATA := data/train_128x2
TRAIN := $(PY) -m torch.distributed.run --standalone --nproc_per_node 2 -m training.train \
	--out-dir checkpoints/face_net --data-dir $(TRAIN_DATA) --batch-size 16 --threads 1 \
	--num-workers 0 --lr 3e-3 --warmup-steps 300 --val-every 500 --val-size 32 --image-every 500 \
	--checkpoint-minutes 5 --anneal-by-time \
	--net.widths 16 32 96 256 512 --net.decoder-widths 8 12 24 64 128 --net.encoder-blocks 2 \
	--net.normals-decoder-widths 16 24 64 192 384 --net.bottleneck-blocks 4 \
	--net.half-res-outputs grad_mag depth corr --mirror-prob 0.5 --bf16 \
	--loss.recon-normals l2 --loss.w-normals 30 --loss.w-normal-angular 6 --loss.normal-detail-weight 3
train: setup
	test -f $(TRAIN_DATA)/index.json || $(PY) -m training.synth.shards --split train --count 73728 \
		--out $(TRAIN_DATA) --per-shard 512 --jobs 2 --max-minutes 20
	$(TRAIN) --steps 11000 --max-minutes 105 $(TRAIN_ARGS)
	$(TRAIN) --resume --steps 15000 --max-minutes 145 $(TRAIN_ARGS)

## 3. a fine-tune of that run's model with the soft count of the pixels past 20 and 30 deg added to the
## losses (--loss.w-normal-share 96, the sixteenth and seventeenth rounds in docs/training-log.md): a fresh
## Adam, lr 3e-4 after 100 warm-up steps, cosine to 800 steps of 2 x 16 samples, or to 10 min on a slower
## host, so that render + train + fine-tune stay under 3 h. Writes checkpoints/face_net_ft/; `make export
## EXPORT_FROM=checkpoints/face_net_ft` exports it. (The shipped weights were fine-tuned this way on an
## AMX host about half as fast as the recipe's, where the 800 steps took 16 min, --max-minutes 25.)
finetune: setup
	$(TRAIN) --out-dir checkpoints/face_net_ft --init-from checkpoints/face_net/checkpoint.pt \
		--steps 800 --max-minutes 10 --lr 3e-4 --warmup-steps 100 --val-every 400 --image-every 0 \
		--loss.w-normal-share 96 $(TRAIN_ARGS)

## A larger network (5.1 M parameters) for one CUDA GPU, reported beside the shipped model, not shipped
## as the default (the add-on's default must train on this CPU): shards rendered by one single-threaded
## process per core for at most RENDER_MINUTES (each part keeps its first samples), decoded once into
## GPU memory (--data-on-device); LARGE_MINUTES of training in bfloat16 autocast, lr annealed by time.
LARGE_MINUTES ?= 5
RENDER_MINUTES ?= 3
JOBS ?= $(shell nproc)
LARGE_DATA := data/train_128_gpu
train-large: setup
	test -f $(LARGE_DATA)/index.json || $(PY) -m training.synth.shards --split train --count 36864 \
		--out $(LARGE_DATA) --per-shard 256 --jobs $(JOBS) --max-minutes $(RENDER_MINUTES)
	$(PY) -m training.train --out-dir checkpoints/face_net_large --data-dir $(LARGE_DATA) --data-on-device \
		--device cuda --steps 1000000 --batch-size 128 --lr 3e-3 --warmup-steps 500 --val-every 1000 \
		--val-size 32 --image-every 0 --log-every 100 --checkpoint-minutes 2 --max-minutes $(LARGE_MINUTES) \
		--anneal-by-time --bf16 --mirror-prob 0.5 --net.widths 32 64 128 320 640 \
		--net.decoder-widths 16 24 48 128 256 --net.normals-decoder-widths 32 48 128 320 640 \
		--net.encoder-blocks 2 --net.bottleneck-blocks 4 --net.half-res-outputs grad_mag depth corr \
		--loss.recon-normals l2 --loss.w-normals 30 --loss.w-normal-angular 6 $(TRAIN_ARGS)

## Export inference weights from the last checkpoint into core/weights/, with the views the add-on
## averages (each also mirrored): the crop, the crop shifted by 4 px down and right, the crop resampled
## to 144 px (chosen on 200 validation heads).
VIEWS := --shift 4 4 --scale 1.125
EXPORT_FROM := checkpoints/face_net
export: setup
	$(PY) -m training.export --checkpoint $(EXPORT_FROM)/checkpoint.pt $(VIEWS)

## Evaluate the shipped weights on the fixed 200-image synthetic test set (docs/model-card.md's metrics), also
## against the ground truth averaged over 4 x 4 sub-pixels per pixel (about 20 s more; 8 x 8 gives the same),
## with the map of where on the head the errors over 30 deg lie.
evaluate: setup
	$(PY) -m training.evaluate --weights core/weights/face_net.pt --threads 2 --gt-supersample 4 \
		--out core/weights/eval_report.json --grid docs/images/eval_grid.png \
		--error-map docs/images/error_map.png --update-manifest

## Score the shipped network on real photos with 3D landmarks, per |yaw| band (training/evaluate_real.py):
## faces found, depth error at the landmarks beside the flat plane and 3DDFA_V2, the depth's slope, and the
## 2D NME for a result with 68 landmarks. REAL_DIR is any folder in the AFLW2000-3D layout (*.jpg + *.mat);
## the default is the 200 dev photos of ../shared/realdev, for measuring only: the report and the contact
## sheet go to runs/eval_real/ (ignored by git) and are never committed. One torch thread: on a loaded
## 2-core host it is faster than two. Add e.g. REAL_ARGS="--limit 5" for a short run.
REAL_DIR ?= ../shared/realdev/aflw2000_3d
evaluate-real: setup
	$(PY) -m training.evaluate_real $(REAL_DIR) --threads 1 --out runs/eval_real/report.json \
		--grid runs/eval_real/grid.png $(REAL_ARGS)

## Score the fitted template head on 100 synthetic ICT template heads with exact ground truth, per |yaw| band
## (training/evaluate_head.py): face vertex error (rigid and similarity alignment, mm), identity and
## expression coefficient errors, rotation error, 2D NME of the 68 landmarks. About a minute; the report goes
## to runs/eval_head/. Add HEAD_ARGS="--count 12" for a short run, "--source oracle" to fit the ground-truth
## correspondences instead of the network's.
evaluate-head: setup
	$(PY) -m training.evaluate_head --threads 1 --out runs/eval_head/report.json $(HEAD_ARGS)

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

clean:
	rm -rf dist build .pytest_cache .ruff_cache .mypy_cache
