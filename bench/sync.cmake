# Document sync load generator (bench/sync/syncbench.c): never a test, run by
# bench/sync/run.sh. Reuses the Pusher load generator's framing, HMAC and histogram.
add_executable(syncbench
  ${CMAKE_CURRENT_LIST_DIR}/sync/syncbench.c
  ${CMAKE_CURRENT_LIST_DIR}/lg_ws.c
  ${CMAKE_CURRENT_LIST_DIR}/lg_sign.c
  ${CMAKE_CURRENT_LIST_DIR}/lg_hist.c
  ${CMAKE_CURRENT_LIST_DIR}/lg_proc.c
  ${CMAKE_CURRENT_LIST_DIR}/lg_opts.c)
target_include_directories(syncbench PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(syncbench PRIVATE crdt common PkgConfig::CRYPTO)

# Snapshot load time of the automerge-paper document through the store (bench/sync/snapload.c):
# never a test, run by hand or by bench/sync/run.sh.
add_executable(snapload ${CMAKE_CURRENT_LIST_DIR}/sync/snapload.c)
target_link_libraries(snapload PRIVATE crdt store trace_load)

# The disk's commit floor right now (bench/sync/fsyncprobe.c): printed beside the durable figures.
add_executable(fsyncprobe ${CMAKE_CURRENT_LIST_DIR}/sync/fsyncprobe.c)
