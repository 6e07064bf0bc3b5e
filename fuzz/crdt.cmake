# libcrdt fuzz targets (see fuzz/CMakeLists.txt).
docsync_fuzz_target(crdt_apply LIBS crdt)
docsync_fuzz_target(crdt_inspect LIBS crdt)
