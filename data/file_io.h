// Whole-file reads with errors that name the file; shared by the dataset readers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace lnx::data {

// Throws "<who>: cannot open <path>: <reason>" when the file is missing or unreadable.
std::vector<uint8_t> read_file(const std::filesystem::path& path, const char* who);

// Reads a file that may be gzip-compressed (detected by content, not by name), through zlib.
std::vector<uint8_t> read_maybe_gzip(const std::filesystem::path& path, const char* who);

}  // namespace lnx::data
