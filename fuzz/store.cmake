# Fuzz targets of libstore: the record decoders. record.c is compiled into
# the target itself so that a libFuzzer build instruments it.
docsync_fuzz_target(store_record
  SOURCES ${CMAKE_SOURCE_DIR}/store/record.c
  LIBS PkgConfig::CRYPTO)
target_include_directories(replay-store_record PRIVATE ${CMAKE_SOURCE_DIR}/store)
if(TARGET fuzz-store_record)
  target_include_directories(fuzz-store_record PRIVATE ${CMAKE_SOURCE_DIR}/store)
endif()
