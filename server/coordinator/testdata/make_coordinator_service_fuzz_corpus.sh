#!/usr/bin/env bash
# Writes the seed corpus of //server/coordinator:coordinator_service_fuzz:
# records "u8 op | u16 length LE | bytes" (see coordinator_service_fuzz.cc),
# the requests encoded from text by protoc. Run from the repository root:
#   server/coordinator/testdata/make_coordinator_service_fuzz_corpus.sh
set -euo pipefail
out=server/coordinator/testdata/coordinator_service_fuzz_corpus
mkdir -p "$out"
enc() {  # enc OP MESSAGE TEXT -> one record on stdout
  local body
  body=$(printf '%s' "$3" | protoc --encode="strata.$2" -Iproto coordinator.proto | xxd -p | tr -d '\n')
  local len=$(( ${#body} / 2 ))
  printf '%02x%02x%02x%s' "$1" $((len & 255)) $((len >> 8)) "$body" | xxd -r -p
}
tick() {  # tick MS -> advance the clock MS milliseconds, then Tick()
  printf '%02x%02x%02x%02x%02x' 10 2 0 $(($1 & 255)) $(($1 >> 8)) | xxd -r -p
}
ps='node { role: "ps" hostname: "ps-host" address: "127.0.0.1:9999" num_shards: 1 }'
worker() { echo "node { role: \"$1\" hostname: \"w$2\" address: \"10.0.0.$2:7000\" cpus: 8 gpus: $3 }"; }
# A node_secret of "S" stands for the node's secret (coordinator_service_fuzz.cc).
report() {  # report TASK NODE KIND STEP
  echo "task_id: \"$1\" node_id: \"$2\" node_secret: \"S\" kind: $3 step: $4 total_steps: 10 metrics { key: \"keys_per_s\" value: 100 } message: \"step $4\""
}
{ enc 5 RegisterNodeRequest "$ps"
  enc 5 RegisterNodeRequest "$(worker general 2 0)"
  enc 0 SubmitJobRequest 'spec { name: "load" num_workers: 1 ps_load_test { dim: 4 keys_per_worker: 16 batch_size: 8 } }'
  tick 0
  enc 8 WatchTasksRequest 'node_id: "node-2" node_secret: "S"'
  enc 6 HeartbeatRequest 'node_id: "node-2" node_secret: "S"'
  enc 9 TaskReport "$(report job-1/task-0 node-2 PROGRESS 5)"
  enc 9 TaskReport "$(report job-1/task-0 node-2 SUCCEEDED 10)"
  enc 1 GetJobRequest 'job_id: "job-1"'
  enc 4 WatchJobRequest 'job_id: "job-1"'
  enc 2 ListJobsRequest ''
  enc 5 RegisterNodeRequest "node_id: \"node-2\" node_secret: \"S\" $(worker general 2 1)"
  enc 7 ClusterRequest ''
} > "$out/job_succeeds"
{ enc 5 RegisterNodeRequest "$ps"
  enc 5 RegisterNodeRequest "$(worker general 2 0)"
  enc 5 RegisterNodeRequest "$(worker general 3 1)"
  enc 0 SubmitJobRequest 'spec { num_workers: 2 gpus_per_worker: 0 ps_load_test { } }'
  tick 100
  enc 3 CancelJobRequest 'job_id: "job-1"'
  enc 8 WatchTasksRequest 'node_id: "node-3" node_secret: "S"'
  enc 9 TaskReport "$(report job-1/task-1 node-3 CANCELLED 2)"
  tick 7000
  enc 6 HeartbeatRequest 'node_id: "node-2" node_secret: "S"'
  enc 7 ClusterRequest ''
  enc 4 WatchJobRequest 'job_id: "job-1"'
} > "$out/job_cancelled_nodes_die"
{ enc 5 RegisterNodeRequest "$ps"
  enc 5 RegisterNodeRequest "$(worker conv 2 0)"
  enc 5 RegisterNodeRequest "$(worker conv 3 0)"
  enc 5 RegisterNodeRequest "$(worker fc 4 1)"
  enc 0 SubmitJobRequest 'spec { cnn_train { mode: STANZA num_conv_workers: 2 num_fc_nodes: 1 batch_size: 8 steps: 4 data { synthetic_train: 64 synthetic_test: 16 } } }'
  enc 0 SubmitJobRequest 'spec { ctr_train { } }'
  tick 10
  enc 8 WatchTasksRequest 'node_id: "node-4" node_secret: "S"'
  enc 9 TaskReport "$(report job-1/task-2 node-4 FAILED 1)"
  tick 11000
  enc 1 GetJobRequest 'job_id: "job-2"'
  enc 2 ListJobsRequest ''
} > "$out/multi_role_jobs"
{ enc 5 RegisterNodeRequest 'node { role: "gpu box" }'
  enc 5 RegisterNodeRequest 'node { role: "general" address: "no-port" }'
  enc 5 RegisterNodeRequest 'node { role: "ps" address: "h:1" shard_id: 3 num_shards: 2 }'
  enc 5 RegisterNodeRequest 'node { role: "ps" address: "h:1" num_shards: 4000000000 }'
  for i in 1 2 3 4 5 6 7 8 9; do enc 5 RegisterNodeRequest "$(worker general $i 0)"; done
  enc 0 SubmitJobRequest ''
  enc 0 SubmitJobRequest 'spec { num_workers: 100 ps_load_test { } }'
  enc 0 SubmitJobRequest 'spec { cnn_train { mode: 7 } }'
  for i in 1 2 3 4 5; do enc 0 SubmitJobRequest 'spec { ps_load_test { } }'; done
  enc 9 TaskReport 'task_id: "job-1/task-0" node_id: "node-1" node_secret: "S" kind: 9'
  enc 9 TaskReport 'task_id: "job-9/task-0" node_id: "node-1" node_secret: "S" step: -1'
  enc 6 HeartbeatRequest 'node_id: "node-42" node_secret: "S"'
  enc 6 HeartbeatRequest 'node_id: "node-1" node_secret: "wrong"'
  enc 8 WatchTasksRequest 'node_id: "bogus"'
  enc 4 WatchJobRequest 'job_id: "job-42"'
  enc 3 CancelJobRequest 'job_id: "job-42"'
} > "$out/bad_requests"
# Once found bugs (docs/fuzzing.md): a report message cut inside a UTF-8
# character, and job steps summed past int64.
{ enc 5 RegisterNodeRequest "$ps"
  enc 5 RegisterNodeRequest "$(worker general 2 0)"
  enc 0 SubmitJobRequest 'spec { ps_load_test { } }'
  tick 0
  enc 9 TaskReport "task_id: \"job-1/task-0\" node_id: \"node-2\" node_secret: \"S\" kind: FAILED message: \"$(printf 'x%.0s' $(seq 63))\\303\\251\""
  enc 1 GetJobRequest 'job_id: "job-1"'
} > "$out/utf8_cut"
{ enc 5 RegisterNodeRequest "$ps"
  enc 5 RegisterNodeRequest "$(worker general 2 0)"
  enc 5 RegisterNodeRequest "$(worker general 3 0)"
  enc 0 SubmitJobRequest 'spec { num_workers: 2 ps_load_test { } }'
  tick 0
  enc 9 TaskReport 'task_id: "job-1/task-0" node_id: "node-2" node_secret: "S" step: 9223372036854775806'
  enc 9 TaskReport 'task_id: "job-1/task-1" node_id: "node-3" node_secret: "S" step: 9223372036854775806'
} > "$out/step_overflow"
ls -l "$out"
