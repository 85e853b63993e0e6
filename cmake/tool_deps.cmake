# Libraries the command-line program uses: yaml-cpp (configs), nlohmann-json (metrics, file
# headers), CLI11 (arguments). All header-only or plain shared libraries from Debian.
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 QUIET CONFIG)
target_link_libraries(lilnetx_tools PUBLIC yaml-cpp nlohmann_json::nlohmann_json)
if(TARGET CLI11::CLI11)
  target_link_libraries(lilnetx_tools PUBLIC CLI11::CLI11)
endif()
