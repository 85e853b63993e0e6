#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/checkpoint_io.h"
#include "core/safetensors.h"
#include "core/tensor.h"

using namespace lnx;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test case, removed at the end.
struct TempDir {
  fs::path path;
  explicit TempDir(const fs::path& base = fs::temp_directory_path()) {
    static int counter = 0;
    path = base / ("lnx_st_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  return s;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A file with the given header text and `data_bytes` zero bytes of data.
std::string make_file(const TempDir& dir, const std::string& header, size_t data_bytes) {
  const std::string path = dir.file("bad.safetensors");
  write_bytes(path, le64(header.size()) + header + std::string(data_bytes, '\0'));
  return path;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void check_same(const Tensor& a, const Tensor& b) {
  REQUIRE(a.dtype() == b.dtype());
  REQUIRE(a.shape() == b.shape());
  switch (a.dtype()) {
    case DType::Float32:
      CHECK(a.to_vector<float>() == b.to_vector<float>());
      break;
    case DType::Int64:
      CHECK(a.to_vector<int64_t>() == b.to_vector<int64_t>());
      break;
    case DType::UInt8:
      CHECK(a.to_vector<uint8_t>() == b.to_vector<uint8_t>());
      break;
  }
}

std::map<std::string, Tensor> sample_tensors() {
  return {
      {"conv.weight",
       from_vector(std::vector<float>{1.5f, -2.f, 0.f, 3.25f, 1e-30f, -7.f}, {2, 3})},
      {"labels", from_vector(std::vector<int64_t>{-1, 0, 1LL << 40, 7}, {4})},
      {"mask", from_vector(std::vector<uint8_t>{0, 1, 255}, {3})},
      {"odd", from_vector(std::vector<uint8_t>{9}, {1})},  // 1 byte: would misalign what follows
      {"scalar", full({}, 2.5)},
      {"empty", zeros({0, 4})},
      {"empty_i64", Tensor::empty({3, 0}, DType::Int64)},
  };
}

}  // namespace

TEST_CASE("safetensors round trip keeps dtypes, shapes, values and metadata", "[safetensors]") {
  TempDir dir;
  const auto tensors = sample_tensors();
  const std::map<std::string, std::string> meta = {
      {"epoch", "3"}, {"config", "a: 1\nb: 'x'\n"}, {"unicode", "h\xc3\xa9llo \"q\""}, {"", ""}};
  const std::string path = dir.file("t.safetensors");
  write_safetensors(path, tensors, meta);
  const SafetensorsFile f = read_safetensors(path);
  CHECK(f.metadata == meta);
  REQUIRE(f.tensors.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    INFO(name);
    REQUIRE(f.tensors.count(name));
    check_same(f.tensors.at(name), t);
  }
  CHECK(f.tensors.at("scalar").dim() == 0);
  // No temporary file is left behind.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("safetensors writer: deterministic, aligned, non-contiguous input", "[safetensors]") {
  TempDir dir;
  const auto tensors = sample_tensors();
  write_safetensors(dir.file("a"), tensors, {{"k", "v"}});
  write_safetensors(dir.file("b"), tensors, {{"k", "v"}});
  const std::string bytes = read_all(dir.file("a"));
  CHECK(bytes == read_all(dir.file("b")));

  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  CHECK(n % 8 == 0);  // data section starts 8-byte aligned
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    const auto begin = info["data_offsets"][0].get<uint64_t>();
    const std::string dt = info["dtype"];
    CHECK(begin % (dt == "I64" ? 8 : dt == "F32" ? 4 : 1) == 0);
  }

  // A transposed view is written as its logical (row-major) values.
  Tensor t = arange(0, 6).view({2, 3}).transpose(0, 1);  // (3, 2), not contiguous
  write_safetensors(dir.file("c"), {{"t", t}});
  CHECK(read_safetensors(dir.file("c")).tensors.at("t").to_vector<float>() ==
        std::vector<float>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("safetensors writer rejects bad names and replaces files atomically", "[safetensors]") {
  TempDir dir;
  CHECK_THROWS_WITH(write_safetensors(dir.file("x"), {{"", zeros({1})}}),
                    Catch::Contains("empty name"));
  CHECK_THROWS_WITH(write_safetensors(dir.file("x"), {{"__metadata__", zeros({1})}}),
                    Catch::Contains("reserved"));
  CHECK_THROWS_WITH(write_safetensors(dir.file("x"), {{"u", Tensor()}}),
                    Catch::Contains("'u' is undefined"));
  CHECK_FALSE(fs::exists(dir.file("x")));
  // An unwritable destination fails with a message and leaves no temporary file.
  CHECK_THROWS_WITH(write_safetensors(dir.file("missing_dir/x"), {{"a", zeros({1})}}),
                    Catch::Contains("cannot create"));

  const std::string path = dir.file("y");
  write_safetensors(path, {{"a", zeros({2})}});
  write_safetensors(path, {{"b", ones({3})}});
  const auto f = read_safetensors(path);
  CHECK(f.tensors.size() == 1);
  CHECK(f.tensors.at("b").to_vector<float>() == std::vector<float>{1, 1, 1});
}

TEST_CASE("safetensors reader reads a file written by a pure-Python writer", "[safetensors]") {
  const auto f = read_safetensors(LNX_FIXTURE_DIR "/st_python.safetensors");
  CHECK(f.metadata.at("origin") == "python");
  CHECK(f.metadata.at("note") == "h\xc3\xa9llo \"quoted\"");
  CHECK(f.tensors.at("a.weight").shape() == Shape{2, 3});
  CHECK(f.tensors.at("a.weight").to_vector<float>() ==
        std::vector<float>{-1.f, -0.5f, 0.f, 0.5f, 1.f, 1.5f});
  CHECK(f.tensors.at("idx").to_vector<int64_t>() == std::vector<int64_t>{-3, 0, 7, 1LL << 40});
  CHECK(f.tensors.at("bytes").to_vector<uint8_t>() == std::vector<uint8_t>{0, 1, 127, 128, 255});
  CHECK(f.tensors.at("scalar").dim() == 0);
  CHECK(f.tensors.at("scalar").item() == 3.25);
  CHECK(f.tensors.at("empty").shape() == Shape{0, 3});
}

TEST_CASE("a file we write reads back in a pure-Python reader", "[safetensors][python]") {
  if (!fs::exists("/usr/bin/python3")) {
    WARN("no /usr/bin/python3: skipping the cross-check");
    return;
  }
  TempDir dir;
  const auto tensors = sample_tensors();
  const std::string path = dir.file("py.safetensors");
  write_safetensors(path, tensors, {{"who", "lilnetx"}});
  const std::string out = dir.file("py.json");
  const std::string cmd =
      "/usr/bin/python3 " LNX_FIXTURE_DIR "/st_tool.py read '" + path + "' > '" + out + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  const auto j = nlohmann::json::parse(read_all(out));
  CHECK(j["__metadata__"]["who"] == "lilnetx");
  REQUIRE(j.size() == tensors.size() + 1);
  for (const auto& [name, t] : tensors) {
    INFO(name);
    const auto& e = j.at(name);
    CHECK(e["dtype"] == safetensors_dtype_name(t.dtype()));
    CHECK(e["shape"].get<Shape>() == t.shape());
    switch (t.dtype()) {
      case DType::Float32:
        CHECK(e["values"].get<std::vector<float>>() == t.to_vector<float>());
        break;
      case DType::Int64:
        CHECK(e["values"].get<std::vector<int64_t>>() == t.to_vector<int64_t>());
        break;
      case DType::UInt8:
        CHECK(e["values"].get<std::vector<uint8_t>>() == t.to_vector<uint8_t>());
        break;
    }
  }
}

TEST_CASE("safetensors reader reports malformed files", "[safetensors][errors]") {
  TempDir dir;
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

  SECTION("missing file") {
    CHECK_THROWS_WITH(read_safetensors(dir.file("nope")),
                      Catch::Contains("nope") && Catch::Contains("no such file"));
  }
  SECTION("shorter than the header length") {
    write_bytes(dir.file("s"), std::string("\x05\x00\x00", 3));
    CHECK_THROWS_WITH(read_safetensors(dir.file("s")),
                      Catch::Contains("truncated") && Catch::Contains("3 bytes"));
  }
  SECTION("header length larger than the file") {
    write_bytes(dir.file("s"), le64(1000) + ok);
    CHECK_THROWS_WITH(read_safetensors(dir.file("s")),
                      Catch::Contains("header length 1000 is larger than"));
  }
  SECTION("a huge header length does not allocate") {
    write_bytes(dir.file("s"), le64(~uint64_t{0}) + ok);
    CHECK_THROWS_WITH(read_safetensors(dir.file("s")), Catch::Contains("is larger than"));
  }
  SECTION("truncated header") {
    const std::string path = make_file(dir, ok, 8);
    const std::string bytes = read_all(path);
    write_bytes(path, bytes.substr(0, 20));
    CHECK_THROWS_WITH(read_safetensors(path), Catch::Contains("is larger than"));
  }
  SECTION("truncated data") {
    const std::string path = make_file(dir, ok, 5);
    CHECK_THROWS_WITH(read_safetensors(path),
                      Catch::Contains("out of range") && Catch::Contains("holds 5 bytes"));
  }
  SECTION("bad JSON") {
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, R"({"w": {"dtype": )", 0)),
                      Catch::Contains("bad.safetensors") && Catch::Contains("not valid JSON"));
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, "[1, 2]", 0)),
                      Catch::Contains("not an object"));
  }
  SECTION("duplicate tensor names") {
    const std::string h = R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                          R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, h, 2)),
                      Catch::Contains("names tensor 'w' twice"));
  }
  SECTION("unknown and unsupported dtypes") {
    CHECK_THROWS_WITH(read_safetensors(make_file(
                          dir, R"({"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}})", 1)),
                      Catch::Contains("tensor 'w'") && Catch::Contains("unknown dtype 'Q7'"));
    CHECK_THROWS_WITH(read_safetensors(make_file(
                          dir, R"({"w":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", 2)),
                      Catch::Contains("'F16', which lilnetx does not support"));
  }
  SECTION("offsets out of range") {
    const std::string h = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, h, 8)),
                      Catch::Contains("tensor 'w'") && Catch::Contains("[8, 16] out of range"));
    const std::string rev = R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})";
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, rev, 8)), Catch::Contains("begin after end"));
  }
  SECTION("size does not match dtype and shape") {
    const std::string h = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})";
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, h, 12)),
                      Catch::Contains("(12 bytes) but dtype F32 and shape [2, 2] need 16 bytes"));
    // A shape whose byte count overflows 64 bits is caught, not wrapped around.
    const std::string big =
        R"({"w":{"dtype":"I64","shape":[4294967296,4294967296],"data_offsets":[0,0]}})";
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, big, 0)),
                      Catch::Contains("need more than 2^64 bytes"));
  }
  SECTION("overlapping, gapped and trailing data") {
    const std::string overlap = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})";
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, overlap, 6)),
                      Catch::Contains("tensor 'b' (bytes 2..6) overlaps tensor 'a'"));
    const std::string gap = R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                            R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})";
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, gap, 6)),
                      Catch::Contains("bytes 2..4") && Catch::Contains("belong to no tensor"));
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, ok, 12)),
                      Catch::Contains("4 trailing bytes"));
  }
  SECTION("malformed entries") {
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, R"({"w": 3})", 0)),
                      Catch::Contains("tensor 'w' is 3, expected a JSON object"));
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, R"({"w":{"dtype":"U8","shape":[1]}})", 1)),
                      Catch::Contains("has no 'data_offsets'"));
    CHECK_THROWS_WITH(read_safetensors(make_file(
                          dir, R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", 1)),
                      Catch::Contains("expected non-negative integers"));
    CHECK_THROWS_WITH(read_safetensors(make_file(
                          dir, R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1)),
                      Catch::Contains("expected [begin, end]"));
    CHECK_THROWS_WITH(read_safetensors(make_file(dir, R"({"__metadata__":{"a":1}})", 0)),
                      Catch::Contains("metadata value of 'a' is 1, expected a string"));
  }
}

TEST_CASE("safetensors reader survives every truncation and byte corruption",
          "[safetensors][errors]") {
  // Thousands of small files: in memory when the machine has a tmpfs, /tmp can be slow.
  TempDir dir(fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path());
  const std::string good = dir.file("good");
  write_safetensors(good, sample_tensors(), {{"k", "v"}});
  const std::string bytes = read_all(good);
  const std::string path = dir.file("mutant");
  const auto reads_or_reports = [&](const std::string& contents) {
    write_bytes(path, contents);
    try {
      read_safetensors(path);
    } catch (const lnx::Error& e) {
      CHECK_THAT(e.what(), Catch::Contains(path));
      return false;
    }
    return true;
  };
  int accepted = 0;
  for (size_t n = 0; n < bytes.size(); ++n) accepted += reads_or_reports(bytes.substr(0, n));
  CHECK(accepted == 0);  // every strict prefix is detected
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (const char c : {'\0', '\xff', '"', '9'}) {
      std::string m = bytes;
      m[i] = c;
      reads_or_reports(m);  // either outcome is fine; a crash or another exception is not
    }
  }
}

TEST_CASE("checkpoint round trip through one safetensors file", "[checkpoint]") {
  TempDir dir;
  Checkpoint c;
  c.model["layer1.0.conv1.weight"] = normal({4, 3, 3, 3});
  c.model["bn.num_batches_tracked"] = from_vector(std::vector<int64_t>{12}, {});
  c.optimizer["layer1.0.conv1.weight.exp_avg"] = uniform({4, 3, 3, 3});
  c.optimizer["step"] = full({}, 7);
  c.set_int("epoch", 12);
  c.set_double("best_acc", 0.1 + 0.2);  // not exactly representable in few digits
  c.set_int("rng_offset", -5);
  c.set_string("config", "trainer:\n  epochs: 3\n");
  const std::string path = dir.file("ckpt.safetensors");
  save_checkpoint(path, c);

  const Checkpoint r = load_checkpoint(path);
  CHECK(r.scalars == c.scalars);
  CHECK(r.get_int("epoch") == 12);
  CHECK(r.get_double("best_acc") == 0.1 + 0.2);
  CHECK(r.get_int("rng_offset") == -5);
  CHECK(r.get_string("config") == "trainer:\n  epochs: 3\n");
  REQUIRE(r.model.size() == 2);
  REQUIRE(r.optimizer.size() == 2);
  for (const auto& [k, t] : c.model) check_same(r.model.at(k), t);
  for (const auto& [k, t] : c.optimizer) check_same(r.optimizer.at(k), t);

  // The same file as plain safetensors: prefixed names and the format tag.
  const auto raw = read_safetensors(path);
  CHECK(raw.tensors.count("model/layer1.0.conv1.weight"));
  CHECK(raw.tensors.count("optim/step"));
  CHECK(raw.metadata.at("format") == kCheckpointFormat);
  CHECK(raw.metadata.at("format_version") == "1");
}

TEST_CASE("checkpoint errors name the problem", "[checkpoint][errors]") {
  TempDir dir;
  Checkpoint c;
  c.set_string("epoch", "three");
  CHECK_THROWS_WITH(c.get_int("epoch"), Catch::Contains("'epoch' is 'three', expected an integer"));
  CHECK_THROWS_WITH(c.get_double("epoch"), Catch::Contains("expected a number"));
  CHECK_THROWS_WITH(c.get_int("missing"), Catch::Contains("no scalar 'missing'"));
  c.set_string("format", "x");
  CHECK_THROWS_WITH(save_checkpoint(dir.file("c"), c), Catch::Contains("reserved"));

  write_safetensors(dir.file("plain"), {{"w", zeros({1})}});
  CHECK_THROWS_WITH(load_checkpoint(dir.file("plain")),
                    Catch::Contains("not a lilnetx checkpoint"));
  write_safetensors(dir.file("v9"), {{"model/w", zeros({1})}},
                    {{"format", kCheckpointFormat}, {"format_version", "9"}});
  CHECK_THROWS_WITH(load_checkpoint(dir.file("v9")), Catch::Contains("format_version '9'"));
  write_safetensors(dir.file("stray"), {{"w", zeros({1})}},
                    {{"format", kCheckpointFormat}, {"format_version", "1"}});
  CHECK_THROWS_WITH(load_checkpoint(dir.file("stray")),
                    Catch::Contains("tensor 'w' is under neither"));
}
