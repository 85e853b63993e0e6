// Reading and writing tensors in the safetensors layout
// (https://github.com/huggingface/safetensors):
//
//   u64 little-endian N | N bytes of JSON header | data section
//
// The header maps each tensor name to {"dtype": "F32"|"I64"|"U8", "shape": [...],
// "data_offsets": [begin, end]} (byte offsets into the data section) and may hold
// "__metadata__": {string: string}. Files written here open with the `safetensors` Python
// package or a few lines of struct + json (see tests/fixtures/st_reader.py).
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"

namespace lnx {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;  // CPU, contiguous
  std::map<std::string, std::string> metadata;
};

// Writes to a temporary file next to `path`, then renames it over `path`, so a crash or a full
// disk never leaves a half-written file under the final name. Tensors may live on any device
// and need not be contiguous. Data is laid out by element size (largest first), then by name,
// so every tensor's data is aligned to its element size, as the reference writer does.
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Validates everything before allocating: the header length against the file size, the JSON,
// each dtype, shape and data_offsets, and that the tensors tile the data section exactly
// (no overlap, no gap). Every problem is an lnx::Error naming the file.
SafetensorsFile read_safetensors(const std::string& path);

// The safetensors dtype string ("F32", "I64", "U8") of a DType.
const char* safetensors_dtype_name(DType dtype);

}  // namespace lnx
