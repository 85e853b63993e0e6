# libFuzzer targets (tools/fuzz/), clang only. scripts/fuzz-lnx does all of this:
#   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DLILNETX_FUZZ=ON \
#         -DLILNETX_CUDA=OFF -DLILNETX_TESTS=OFF
#   ninja -C build-fuzz fuzz_lnx fuzz_lnx_seed
#   ./build-fuzz/fuzz_lnx_seed corpus && ./build-fuzz/fuzz_lnx corpus -max_total_time=300
# Only the code a file's bytes reach before a network exists (the .lnx parser, the config
# parser, the tables, the rANS decoder, the validation against the network) is instrumented
# with coverage, AddressSanitizer and UBSan: instrumenting the Eigen-heavy kernels too made the
# build take most of an hour on two cores and teaches the fuzzer nothing. The normal build
# never needs clang.
option(LILNETX_FUZZ "Build the libFuzzer targets of tools/fuzz (clang only)" OFF)

if(LILNETX_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "LILNETX_FUZZ needs clang (libFuzzer); configure with "
                        "-DCMAKE_CXX_COMPILER=clang++")
  endif()
  set(LNX_FUZZ_SOURCES compress/lnx_format.cpp compress/lnx_tables.cpp
                       compress/frequency_table.cpp compress/range_coder.cpp
                       tools/lnx_model.cpp tools/config.cpp tools/fuzz/fuzz_lnx.cpp)
  list(TRANSFORM LNX_FUZZ_SOURCES PREPEND ${CMAKE_SOURCE_DIR}/)
  set_source_files_properties(${LNX_FUZZ_SOURCES} TARGET_DIRECTORY lilnetx lilnetx_tools
    PROPERTIES COMPILE_OPTIONS
    "-fsanitize=fuzzer-no-link,address,undefined;-fno-sanitize-recover=undefined;-fno-omit-frame-pointer;-g")
  add_executable(fuzz_lnx ${CMAKE_SOURCE_DIR}/tools/fuzz/fuzz_lnx.cpp)
  target_link_libraries(fuzz_lnx PRIVATE lilnetx_tools)
  target_link_options(fuzz_lnx PRIVATE -fsanitize=fuzzer,address,undefined)
  add_executable(fuzz_lnx_seed ${CMAKE_SOURCE_DIR}/tools/fuzz/make_seed.cpp)
  target_link_libraries(fuzz_lnx_seed PRIVATE lilnetx_tools)
  target_link_options(fuzz_lnx_seed PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
endif()
