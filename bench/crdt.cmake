# Native CRDT benchmark (bench/crdt_bench.c): never a test; bench/crdt.sh builds it in
# Release together with the wasm module and runs bench/crdt/run.mjs, which prints one
# table beside Yjs, Loro, Automerge and diamond-types.
add_executable(crdt_bench ${CMAKE_CURRENT_LIST_DIR}/crdt_bench.c)
target_link_libraries(crdt_bench PRIVATE crdt trace_load)
