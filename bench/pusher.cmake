# Pusher-protocol load generator (bench/loadgen.c): never a test, run by bench/fanout.sh.
# Links only libc and OpenSSL libcrypto (HMAC-SHA256 / MD5 for signed publishes and auth).
add_executable(loadgen
  ${CMAKE_CURRENT_LIST_DIR}/loadgen.c
  ${CMAKE_CURRENT_LIST_DIR}/lg_hist.c
  ${CMAKE_CURRENT_LIST_DIR}/lg_ws.c
  ${CMAKE_CURRENT_LIST_DIR}/lg_sign.c
  ${CMAKE_CURRENT_LIST_DIR}/lg_opts.c
  ${CMAKE_CURRENT_LIST_DIR}/lg_proc.c)
target_link_libraries(loadgen PRIVATE PkgConfig::CRYPTO)

# The kernel floor: a minimal epoll fan-out server (bench/floor.c), one write() per delivery.
add_executable(floor ${CMAKE_CURRENT_LIST_DIR}/floor.c)
