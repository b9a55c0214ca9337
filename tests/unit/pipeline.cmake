# The pipeline's answers (src/pipeline) against a real queue.
# A slow or failing disk is injected by wrapping fdatasync, stepped clocks by wrapping time
# and clock_gettime (see test_pipeline.c).
iha_unit_test(test_pipeline iha_pipeline)
target_link_options(test_pipeline PRIVATE -Wl,--wrap=fdatasync -Wl,--wrap=time
                    -Wl,--wrap=clock_gettime)
