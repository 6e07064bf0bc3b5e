# libcrdt fuzz targets (see fuzz/CMakeLists.txt).
docsync_fuzz_target(crdt_apply LIBS crdt)
docsync_fuzz_target(crdt_inspect LIBS crdt)
# crdt_inspect checks the admission bound of tests/crdt/test_crdt_cost.c with
# the same constants and counting allocator (tests/crdt/crdt_meter.h).
foreach(t replay-crdt_inspect fuzz-crdt_inspect)
  if(TARGET ${t})
    target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/tests/crdt)
  endif()
endforeach()
