# Fuzz target of the document sync parsers (owner: helper "sync"), included from
# tests/sync/CMakeLists.txt (fuzz/CMakeLists.txt only includes per-part files and
# "sync" is not a part). Same shape as docsync_fuzz_target(): a corpus replay
# test (label fuzz-regress) and, with DOCSYNC_LIBFUZZER=ON, a libFuzzer binary.
set(_sf_dir "${CMAKE_SOURCE_DIR}/fuzz")
add_executable(replay-sync_msg ${_sf_dir}/sync_msg.c ${_sf_dir}/replay.c)
target_link_libraries(replay-sync_msg PRIVATE docsync_sync)
add_test(NAME fuzz-sync_msg COMMAND replay-sync_msg ${_sf_dir}/corpus/sync_msg)
set_tests_properties(fuzz-sync_msg PROPERTIES LABELS fuzz-regress TIMEOUT 120)
if(DOCSYNC_LIBFUZZER)
  add_executable(fuzz-sync_msg ${_sf_dir}/sync_msg.c)
  target_compile_options(fuzz-sync_msg PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz-sync_msg PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz-sync_msg PRIVATE docsync_sync)
endif()
