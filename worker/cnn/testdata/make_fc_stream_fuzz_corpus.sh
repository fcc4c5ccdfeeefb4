#!/usr/bin/env bash
# Writes the seed corpus of //worker/cnn:fc_stream_fuzz (input format at the
# top of worker/cnn/fc_stream_fuzz.cc) into fc_stream_fuzz_corpus/ beside
# this script. Run from anywhere: worker/cnn/testdata/make_fc_stream_fuzz_corpus.sh
set -euo pipefail
cd "$(dirname "$0")"
root=../../..
out=fc_stream_fuzz_corpus
rm -rf "$out"
mkdir -p "$out"

byte() { printf "\\x$(printf %02x "$1")"; }
# t STREAM RANK STEP FLAGS ROWS SEED INDEX: a template batch (kind 3).
t() {
  byte $((9 + $1)); byte "$2"; byte $(($3 + 1)); byte "$4"; byte "$5"
  byte "$6"; byte "$7"
}
end_clean() { byte $((3 + $1)); }
end_broken() { byte $((6 + $1)); }
# raw STREAM < MESSAGE: a raw ActivationBatch record (kind 0).
raw() {
  local msg
  msg=$(mktemp)
  cat >"$msg"
  local n
  n=$(stat -c %s "$msg")
  byte "$1"; byte $((n & 255)); byte $((n >> 8))
  cat "$msg"
  rm -f "$msg"
}
# encode: a text-format ActivationBatch on stdin, binary on stdout.
encode() {
  protoc --proto_path="$root/proto" --encode=strata.ActivationBatch \
    "$root/proto/stanza.proto"
}
zeros() { for ((i = 0; i < $1; ++i)); do printf '\\000'; done; }

# Valid streams.
{ for s in 1 2 3 4; do t 0 0 "$s" 0 4 "$s" 0; done; end_clean 0; } \
  >"$out/train_four_steps"
{ for s in 1 2 3 4; do t 0 0 "$s" 2 4 "$s" 0; done; end_clean 0; } \
  >"$out/train_fp16"
{ t 0 0 1 0 4 1 0; t 0 0 0 1 8 2 0; t 0 0 0 1 3 3 0; end_clean 0; } \
  >"$out/train_then_eval"
{ t 1 0 0 1 8 7 0; end_clean 1; } >"$out/eval_only"
{
  printf 'job_id: "fuzz-job" conv_rank: 0 step: 1 batch: 4 features: 400 '
  printf 'format: FLOAT32 job_secret: "fuzz-secret-0123" '
  printf 'activations: "%s" labels: "%s"\n' "$(zeros 6400)" "$(zeros 16)"
} | encode | raw 0 >"$out/raw_first_batch"

# Refused batches, then the real stream goes on.
{ t 1 0 1 8 4 1 0; t 0 0 1 0 4 1 0; } >"$out/wrong_secret"
{ t 1 0 1 4 4 1 0; t 0 0 1 0 4 1 0; } >"$out/missing_secret"
{ t 1 0 1 16 4 1 0; t 0 0 1 0 4 1 0; } >"$out/other_job"
{ t 0 0 1 0 4 1 0; t 1 0 2 0 4 2 0; t 0 0 2 0 4 2 0; } >"$out/held_rank"
{ t 1 2 1 0 4 1 0; t 0 0 1 0 4 1 0; } >"$out/unserved_rank"
{ t 0 0 1 0 4 255 5; t 0 0 1 0 4 1 0; } >"$out/nan_activation"
{ t 0 0 1 2 4 254 9; t 0 0 1 0 4 1 0; } >"$out/inf_activation"
{ t 0 0 1 128 4 1 2; t 0 0 1 0 4 1 0; } >"$out/label_out_of_range"
{ t 0 0 1 64 4 1 0; t 0 0 1 32 4 1 0; t 0 0 1 0 5 1 0; } >"$out/bad_sizes"
{ t 0 0 3 0 4 1 0; t 0 0 6 0 4 1 0; t 0 0 -1 0 4 1 0; } >"$out/bad_steps"
{ t 0 0 0 1 0 1 0; t 0 0 0 1 9 1 0; } >"$out/bad_eval_rows"
{ t 0 0 1 0 4 1 0; t 0 1 2 0 4 1 0; } >"$out/later_batch_other_rank"
{ t 0 0 1 0 4 1 0; end_broken 0; t 1 0 2 0 4 2 0; } >"$out/broken_stream"
{
  printf 'job_id: "fuzz-job" conv_rank: 0 step: 1 batch: 4 features: 400 '
  printf 'format: 7 job_secret: "fuzz-secret-0123" '
  printf 'activations: "%s" labels: "%s"\n' "$(zeros 6400)" "$(zeros 16)"
} | encode | raw 0 >"$out/raw_unknown_format"
printf '\x00\x05\x00\xff\xff\xff\xff\xff' >"$out/raw_garbage"
