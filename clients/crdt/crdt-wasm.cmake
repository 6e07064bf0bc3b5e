# WebAssembly build of libcrdt and the native <-> wasm interop test.
# Included from tests/CMakeLists.txt when "crdt" is a configured part.
#
#   crdt_wasm          custom target: ${CMAKE_BINARY_DIR}/clients/crdt/crdt.wasm,
#                      crdt's sources + crdt_wasm.c compiled by clang for
#                      wasm32-wasi (reactor, no sanitizer, -O2), no imports.
#   crdt_native_peer   the native replica the interop test drives (built with
#                      the project's flags, so with ASan in the test build).
#   crdt_wasm_interop  ctest (label unit): node --test interop.test.mjs.
#
# Needs clang, wasm-ld (lld), wasi-libc and libclang-rt-14-dev-wasm32; without
# them the wasm target and the test are left out with a warning.
set(_cw_dir "${CMAKE_CURRENT_LIST_DIR}")

add_executable(crdt_native_peer "${_cw_dir}/native_peer.c")
target_link_libraries(crdt_native_peer PRIVATE crdt)

find_program(DOCSYNC_WASM_CC NAMES clang-14 clang)
find_program(DOCSYNC_NODE NAMES node nodejs)
set(_cw_ok FALSE)
if(DOCSYNC_WASM_CC)
  execute_process(COMMAND ${DOCSYNC_WASM_CC} --target=wasm32-wasi -print-libgcc-file-name
                  OUTPUT_VARIABLE _cw_rt OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  execute_process(COMMAND ${DOCSYNC_WASM_CC} --target=wasm32-wasi -print-file-name=libc.a
                  OUTPUT_VARIABLE _cw_libc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(EXISTS "${_cw_rt}" AND IS_ABSOLUTE "${_cw_libc}" AND EXISTS "${_cw_libc}")
    set(_cw_ok TRUE)
  else()
    message(WARNING "crdt wasm: clang cannot link for wasm32-wasi (builtins '${_cw_rt}', libc "
                    "'${_cw_libc}'); install wasi-libc and libclang-rt-14-dev-wasm32. "
                    "Skipping crdt_wasm and its interop test.")
  endif()
else()
  message(WARNING "crdt wasm: clang not found; skipping crdt_wasm and its interop test.")
endif()

if(_cw_ok)
  # The C sources of the crdt library target, whatever files it is made of.
  get_target_property(_cw_srcs crdt SOURCES)
  get_target_property(_cw_srcdir crdt SOURCE_DIR)
  set(_cw_c "")
  foreach(src IN LISTS _cw_srcs)
    if(src MATCHES "\\.c$")
      if(NOT IS_ABSOLUTE "${src}")
        set(src "${_cw_srcdir}/${src}")
      endif()
      list(APPEND _cw_c "${src}")
    endif()
  endforeach()
  file(GLOB _cw_h CONFIGURE_DEPENDS "${_cw_srcdir}/*.h")
  set(_cw_flags --target=wasm32-wasi -mexec-model=reactor -O2 -flto -mbulk-memory -DNDEBUG -std=c11
      -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes)
  if(DOCSYNC_WERROR)
    list(APPEND _cw_flags -Werror)
  endif()
  set(DOCSYNC_CRDT_WASM "${CMAKE_BINARY_DIR}/clients/crdt/crdt.wasm" CACHE INTERNAL "")
  add_custom_command(
    OUTPUT "${DOCSYNC_CRDT_WASM}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${CMAKE_BINARY_DIR}/clients/crdt"
    COMMAND ${DOCSYNC_WASM_CC} ${_cw_flags} -I "${_cw_srcdir}" -o "${DOCSYNC_CRDT_WASM}"
            ${_cw_c} "${_cw_dir}/crdt_wasm.c" -Wl,--strip-debug
    DEPENDS ${_cw_c} ${_cw_h} "${_cw_dir}/crdt_wasm.c"
    COMMENT "Building crdt.wasm (clang, wasm32-wasi)"
    VERBATIM)
  add_custom_target(crdt_wasm ALL DEPENDS "${DOCSYNC_CRDT_WASM}")

  if(DOCSYNC_NODE)
    add_test(NAME crdt_wasm_interop
             COMMAND ${DOCSYNC_NODE} --test "${_cw_dir}/interop.test.mjs")
    set_tests_properties(crdt_wasm_interop PROPERTIES
      LABELS unit
      TIMEOUT 120
      ENVIRONMENT "CRDT_WASM=${DOCSYNC_CRDT_WASM};CRDT_NATIVE_PEER=$<TARGET_FILE:crdt_native_peer>")
  else()
    message(WARNING "crdt wasm: node not found; crdt_wasm_interop is not registered.")
  endif()
endif()
