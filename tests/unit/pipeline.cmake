# The pipeline's answers (src/pipeline.c) against a real queue: linked with the whole core.
# A slow or failing disk is injected by wrapping fdatasync, stepped clocks by wrapping time
# and clock_gettime (see test_pipeline.c).
iha_unit_test(test_pipeline)
target_link_libraries(test_pipeline PRIVATE iha_core)
target_link_options(test_pipeline PRIVATE -Wl,--wrap=fdatasync -Wl,--wrap=time
                    -Wl,--wrap=clock_gettime)
