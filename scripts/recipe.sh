# Sourced by models.sh, desk.sh and distill-lever.sh: the binaries, the corpus, and the
# shipped model's recipe, kept in one place so that every experiment trains what ships.
TRAIN=${TRAIN:-target/release/mynah-train}
MYNAH=${MYNAH:-target/release/mynah}
CORPUS=${CORPUS:-../shared/data/tinyshakespeare.txt}
# The float phase, less the size budget, the length of training, threads and device.
SHIPPED_TRAIN=(--corpus "$CORPUS" --mode text --cell gru --dtype int4 --factored auto
  --embed-dropout 0.1 --proj-dropout 0.25 --weight-decay 0.05
  --lr 0.005 --seq-len 128 --batch 128 --seed 1 --sample-every 0 --eval-every 500)
# The shipped int4 export (runtime/QUANTIZATION.md, "Choosing the codes").
SHIPPED_EXPORT=(--dtype int4 --factored --rounding compensated --calib-chars 1000000
  --tune-steps 600)
