# The demo page (owner: helper "client"): src/demo.c serves clients/demo/, the JS client,
# crdt.wasm and the pusher-js / laravel-echo browser bundles, plus a development token
# endpoint (dev app only). See src/demo.h.
if(TARGET docsyncd)
  target_sources(docsyncd PRIVATE ${CMAKE_CURRENT_LIST_DIR}/demo.c)
  # token_issue (token.h) for the development token endpoint; docsync_sync is defined by
  # sync.cmake in every configuration (also without the crdt and store parts).
  target_link_libraries(docsyncd PRIVATE docsync_sync)
  # Where the files are by default: this source tree and the wasm of this build
  # (clients/crdt/crdt-wasm.cmake); DOCSYNC_DEMO_ROOT / DOCSYNC_WASM override at run time.
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/demo.c PROPERTIES COMPILE_DEFINITIONS
    "DEMO_ROOT_DEFAULT=\"${CMAKE_SOURCE_DIR}\";DEMO_WASM_DEFAULT=\"${CMAKE_BINARY_DIR}/clients/crdt/crdt.wasm\"")
  # demo.c registers itself with DOCSYNC_MODULE (server.h).
endif()
