# Activity-log export benchmark (bench/audit/run.sh): audit_fill writes N entries into a store,
# then run.sh times docsync-audit over them. Never a test.
add_executable(audit_fill ${CMAKE_CURRENT_LIST_DIR}/audit/audit_fill.c)
target_link_libraries(audit_fill PRIVATE store)
