#!/usr/bin/env bash
# Writes the seed corpus of //server/ps:ps_service_fuzz: records
# "u8 op | u16 length LE | request bytes" (see ps_service_fuzz.cc), the
# requests encoded from text by protoc. Run from the repository root:
#   server/ps/testdata/make_ps_service_fuzz_corpus.sh
set -euo pipefail
out=server/ps/testdata/ps_service_fuzz_corpus
mkdir -p "$out"
enc() {  # enc OP MESSAGE TEXT -> one record on stdout
  local body
  body=$(printf '%s' "$3" | protoc --encode="strata.$2" -I. proto/ps.proto | xxd -p | tr -d '\n')
  local len=$(( ${#body} / 2 ))
  printf '%02x%02x%02x%s' "$1" $((len & 255)) $((len >> 8)) "$body" | xxd -r -p
}
keys() {  # keys K1 K2 ... -> C-escaped little-endian u64s for text format
  for k in "$@"; do printf '\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00\\x00' "$k"; done
}
grads() {  # grads N -> N float32 0.5 (0x3f000000 LE)
  for _ in $(seq "$1"); do printf '\\x00\\x00\\x00\\x3f'; done
}
sparse='sparse { name: "emb" dim: 2 optimizer { type: ADAGRAD learning_rate: 0.1 } }'
dense='dense { name: "w" size: 4 optimizer { type: SGD learning_rate: 0.1 } }'
{ enc 0 CreateTableRequest "$sparse"
  enc 3 PullRequest "table: \"emb\" keys: \"$(keys 1 2 3)\""
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 1 2 3)\" gradients: \"$(grads 6)\""
  enc 3 PullRequest "table: \"emb\" keys: \"$(keys 1 2 3)\" read_only: true"
  enc 2 ListTablesRequest ''
  enc 7 StatsRequest ''
} > "$out/sparse_session"
{ enc 0 CreateTableRequest "$dense"
  enc 6 DensePushRequest "name: \"w\" gradients: \"$(grads 4)\""
  enc 5 DensePullRequest 'name: "w"'
  enc 1 DropTableRequest 'name: "w"'
  enc 5 DensePullRequest 'name: "w"'
} > "$out/dense_session"
# Dense chunks: a BSP tensor of 6 elements, 2 workers, each pushing its
# gradient as element ranges (in order, out of order, repeated), pulls of
# ranges inside and outside the tensor.
bsp='dense { name: "b" size: 6 sync: BSP num_workers: 2 optimizer { type: ADAM learning_rate: 0.1 } }'
{ enc 0 CreateTableRequest "$bsp"
  enc 6 DensePushRequest "name: \"b\" offset: 0 count: 2 gradients: \"$(grads 2)\""
  enc 6 DensePushRequest "name: \"b\" offset: 4 count: 2 gradients: \"$(grads 2)\""
  enc 6 DensePushRequest "name: \"b\" offset: 0 count: 2 gradients: \"$(grads 2)\""
  enc 6 DensePushRequest "name: \"b\" offset: 2 gradients: \"$(grads 4)\""
  enc 6 DensePushRequest "name: \"b\" worker: 1 offset: 0 count: 3 gradients: \"$(grads 3)\""
  enc 6 DensePushRequest "name: \"b\" worker: 1 offset: 3 count: 3 gradients: \"$(grads 3)\""
  enc 5 DensePullRequest 'name: "b" min_step: 1 offset: 2 count: 3'
  enc 5 DensePullRequest 'name: "b" offset: 6'
  enc 5 DensePullRequest 'name: "b" offset: 18446744073709551615 count: 2'
  enc 6 DensePushRequest "name: \"b\" step: 1 offset: 5 count: 18446744073709551615 gradients: \"$(grads 1)\""
} > "$out/dense_chunks"
{ enc 0 CreateTableRequest "$sparse"
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 1)\" gradients: \"\\x00\\x00\\xc0\\x7f\\x00\\x00\\x00\\x3f\""
  enc 3 PullRequest 'table: "nope" keys: "\x01\x00\x00\x00\x00\x00\x00\x00"'
  enc 0 CreateTableRequest "$sparse"
} > "$out/bad_requests"
# Request ids: a push applied, its duplicate, a later and an out-of-order
# sequence, one older than the window, half ids; a dense push and its
# duplicate.
ids='client_id: 77'
{ enc 0 CreateTableRequest "$sparse"
  enc 0 CreateTableRequest "$dense"
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 1)\" gradients: \"$(grads 2)\" $ids sequence: 2"
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 1)\" gradients: \"$(grads 2)\" $ids sequence: 2"
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 2)\" gradients: \"$(grads 2)\" $ids sequence: 5000"
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 2)\" gradients: \"$(grads 2)\" $ids sequence: 4999"
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 3)\" gradients: \"$(grads 2)\" $ids sequence: 2"
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 3)\" gradients: \"$(grads 2)\" sequence: 3"
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 3)\" gradients: \"$(grads 2)\" $ids"
  enc 6 DensePushRequest "name: \"w\" gradients: \"$(grads 4)\" client_id: 78 sequence: 1"
  enc 6 DensePushRequest "name: \"w\" gradients: \"$(grads 4)\" client_id: 78 sequence: 1"
} > "$out/push_ids"
{ enc 0 CreateTableRequest "$sparse"
  enc 0 CreateTableRequest "$dense"
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 1 2 3)\" gradients: \"$(grads 6)\""
  enc 6 DensePushRequest "name: \"w\" gradients: \"$(grads 4)\""
  enc 8 CheckpointRequest 'checkpoint_id: 7'
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 1)\" gradients: \"$(grads 2)\""
  enc 1 DropTableRequest 'name: "w"'
  enc 9 LoadRequest 'checkpoint_id: 7'
  enc 9 LoadRequest 'checkpoint_id: 8'
  enc 8 CheckpointRequest 'checkpoint_id: 9'
  enc 8 CheckpointRequest 'checkpoint_id: 10'
  enc 9 LoadRequest ''
  enc 2 ListTablesRequest ''
} > "$out/checkpoint_load"
{ enc 0 CreateTableRequest "$sparse"
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 1 2 3 4 5 6 7 8)\" gradients: \"$(grads 16)\""
  enc 10 CompressRequest 'table: "emb" config { clusters: 2 min_features: 1 }'
  enc 10 CompressRequest 'table: "nope" config { clusters: 2 }'
  enc 10 CompressRequest 'config { field_bits: 17 }'
  enc 7 StatsRequest 'table: "emb"'
  enc 3 PullRequest "table: \"emb\" keys: \"$(keys 1 2)\""
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 1 2)\" gradients: \"$(grads 4)\""
  enc 8 CheckpointRequest 'checkpoint_id: 3'
  enc 9 LoadRequest 'checkpoint_id: 3'
} > "$out/compress"
# Cluster-wide compression (docs/saec.md): SampleHead (bounded, too many),
# Compress with centroids (good; NaN, wrong shape, reserved field), Resolve
# (a key, a reserved-field key), resolved pulls and pushes of ClusterKeys
# (homed, cluster id out of range), an unresolved pull, the fold, a
# checkpoint and its load.
ck() {  # ck C -> ClusterKey(field_bits 8, field 0, C) as escaped LE u64
  printf '\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00\\xff' "$1"
}
two='\x00\x00\x00\x3f\x00\x00\x00\x3f\x00\x00\x00\x00\x00\x00\x00\x00'
nan='\x00\x00\xc0\x7f\x00\x00\x00\x3f'
{ enc 0 CreateTableRequest "$sparse"
  enc 4 PushRequest "table: \"emb\" keys: \"$(keys 1 2 3 4 5 6 7 8)\" gradients: \"$(grads 16)\""
  enc 14 SampleHeadRequest 'table: "emb" config { head_count: 2 } max_per_field: 4'
  enc 14 SampleHeadRequest 'table: "emb" max_per_field: 2000000'
  enc 10 CompressRequest "table: \"emb\" config { clusters: 2 } centroids { field: 0 values: \"$nan\" }"
  enc 10 CompressRequest "table: \"emb\" config { clusters: 2 } centroids { field: 0 values: \"\\x00\\x00\" }"
  enc 10 CompressRequest "table: \"emb\" config { clusters: 2 } centroids { field: 255 values: \"$two\" }"
  enc 10 CompressRequest "table: \"emb\" config { clusters: 2 cluster_wide: true }"
  enc 10 CompressRequest "table: \"emb\" config { clusters: 2 index_layout: COMPACT } centroids { field: 0 values: \"$two\" }"
  enc 13 ResolveRequest "table: \"emb\" keys: \"$(keys 1 2 9)\""
  enc 13 ResolveRequest "table: \"emb\" keys: \"$(ck 1)\""
  enc 3 PullRequest "table: \"emb\" keys: \"$(ck 0)$(ck 1)$(keys 9)\" resolved: true"
  enc 3 PullRequest "table: \"emb\" keys: \"$(ck 2)\" resolved: true"
  enc 3 PullRequest "table: \"emb\" keys: \"$(keys 1)\""
  enc 4 PushRequest "table: \"emb\" keys: \"$(ck 0)$(keys 9)\" gradients: \"$(grads 4)\" resolved: true"
  enc 14 SampleHeadRequest 'table: "emb"'
  enc 10 CompressRequest "table: \"emb\" centroids { field: 0 values: \"$two\" }"
  enc 8 CheckpointRequest 'checkpoint_id: 3'
  enc 9 LoadRequest 'checkpoint_id: 3'
} > "$out/cluster_wide"
# Once found bugs (docs/fuzzing.md): a checkpoint older than the kept ones
# deleted by its own retention pass (the shard keeps 2); a Compress of
# every table that failed on b after swapping a in.
{ enc 0 CreateTableRequest "$sparse"
  enc 8 CheckpointRequest 'checkpoint_id: 5'
  enc 8 CheckpointRequest 'checkpoint_id: 6'
  enc 8 CheckpointRequest 'checkpoint_id: 2'
} > "$out/checkpoint_older_than_kept"
sgd='optimizer { type: SGD learning_rate: 0.1 }'
{ enc 0 CreateTableRequest "sparse { name: \"a\" dim: 2 $sgd }"
  enc 0 CreateTableRequest "sparse { name: \"b\" dim: 2 $sgd }"
  enc 4 PushRequest "table: \"a\" keys: \"$(keys 1 2 3 4 5 6 7 8)\" gradients: \"$(grads 16)\""
  enc 4 PushRequest "table: \"b\" keys: \"$(keys 1)\" gradients: \"$(grads 2)\""
  enc 10 CompressRequest 'config { target_ratio: 1.2 min_features: 1 }'
  enc 10 CompressRequest 'config { field_bits: 17 }'
} > "$out/compress_every_table"
# Shard failures (docs/failures.md): a BSP tensor checkpointed mid-step and
# loaded back resynchronises (a push above its step, one below, a pull
# beyond it); ResetDenseSteps of a prefix and a bad one; PausePushes with a
# lease, a lease out of bounds, and a resume.
bsp2='dense { name: "job/b" size: 2 sync: BSP num_workers: 2 optimizer { type: SGD learning_rate: 0.1 } }'
{ enc 0 CreateTableRequest "$bsp2"
  enc 6 DensePushRequest "name: \"job/b\" gradients: \"$(grads 2)\""
  enc 8 CheckpointRequest 'checkpoint_id: 4'
  enc 9 LoadRequest 'checkpoint_id: 4'
  enc 6 DensePushRequest "name: \"job/b\" step: 3 worker: 1 gradients: \"$(grads 2)\""
  enc 6 DensePushRequest "name: \"job/b\" step: 1 gradients: \"$(grads 2)\""
  enc 5 DensePullRequest 'name: "job/b" min_step: 5'
  enc 11 ResetDenseStepsRequest 'prefix: "job/"'
  enc 11 ResetDenseStepsRequest 'prefix: "bad prefix"'
  enc 12 PausePushesRequest 'pause: true lease_ms: 1000'
  enc 12 PausePushesRequest 'pause: true lease_ms: 600000'
  enc 12 PausePushesRequest 'pause: false'
  enc 2 ListTablesRequest ''
} > "$out/shard_failures"
# The dense push read in place (op 6; op 21 the proto path): fields out of
# order and repeated (the last wins), an unknown field, a NaN, a length
# that is not whole floats, a truncated record (INTERNAL, skipped), a name
# that is not UTF-8 (likewise).
raw() {  # raw OP HEX -> one record of the given request bytes
  local len=$(( ${#2} / 2 ))
  printf '%02x%02x%02x%s' "$1" $((len & 255)) $((len >> 8)) "$2" | xxd -r -p
}
{ enc 0 CreateTableRequest "$dense"
  raw 6 "18001210000000400000003f0000003f0000003f0a0177"
  raw 6 "0a0178120400000040f8010212100000003f0000003f0000003f0000003f0a0177"
  raw 6 "0a01771210000000400000c07f0000003f0000003f"
  raw 6 "0a0177120300003f"
  raw 6 "0a0177121000000040"
  raw 6 "0a01ff1210000000400000003f0000003f0000003f"
  enc 21 DensePushRequest "name: \"w\" gradients: \"$(grads 4)\" client_id: 9 sequence: 1"
  enc 6 DensePushRequest "name: \"w\" gradients: \"$(grads 4)\" client_id: 9 sequence: 1"
  enc 5 DensePullRequest 'name: "w" offset: 1 count: 2'
} > "$out/dense_wire"
# A push whose only field has a 5-byte tag past 32 bits, which protobuf
# keeps mod 2^32 (an unknown varint field): a fuzzer's find.
printf '\x04\x06\x00\xb8\xb8\xb8\xb8\x38\x01' > "$out/wide_tag"
ls -l "$out"
