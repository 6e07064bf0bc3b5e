# Unit tests of the server's pure pieces (owner: helper "server"): hash map,
# send queue, presence roster, channel registry, metrics, UTF-8, route patterns. Through public
# headers only; each runs in well under a second.
foreach(t hmap sendq presence channel metrics utf8 route)
  add_executable(test_${t} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c)
  target_include_directories(test_${t} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(test_${t} PRIVATE docsync_core)
  add_test(NAME server-${t} COMMAND test_${t})
  set_tests_properties(server-${t} PROPERTIES LABELS unit TIMEOUT 60)
endforeach()
