# The trace loader (bench/trace.c): not a benchmark but the one reader of the shared editing
# traces, a static library for the benchmarks that replay a trace (crdt_bench, snapload) and for
# the CRDT trace tests. tests/crdt/CMakeLists.txt includes this file too, so that the tests
# build when bench is not a configured part; the guard makes the second include a no-op.
if(NOT TARGET trace_load)
  add_library(trace_load STATIC ${CMAKE_CURRENT_LIST_DIR}/trace.c)
  target_include_directories(trace_load PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(trace_load PUBLIC PkgConfig::CJSON)
endif()
