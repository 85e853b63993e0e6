#include <zlib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "autograd/grad_mode.h"
#include "compress/latent_layers.h"
#include "compress/lnx_format.h"
#include "compress/lnx_tables.h"
#include "compress/objective.h"
#include "compress/range_coder.h"
#include "core/batch_norm_affine.h"
#include "core/checkpoint_io.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "layers/batch_norm.h"
#include "tools/commands.h"
#include "tools/lnx_model.h"
#include "tools/trainer.h"

using namespace lnx;
using namespace lnx::tools;
namespace fs = std::filesystem;

namespace {

Config network_config(const std::string& name, int64_t width = 1) {
  return Config::parse(str("network: {name: ", name, ", vanilla: false, width: ", width, "}\n",
                           "common: {seed: 11}\n"),
                       {}, "test network");
}

// Realistic trained latents: most zero, whole slices zero, the rest round(normal * 2) plus a
// fractional part that rounding removes.
void perturb_latents(const Module& model, uint64_t seed) {
  Generator g(seed);
  NoGradGuard ng;
  for (const auto& [name, layer] : latent_layers_by_name(model)) {
    const Tensor& l = layer->latent().data();
    const int64_t slice = layer->slice_size();
    std::vector<float> v(static_cast<size_t>(l.numel()));
    for (int64_t s = 0; s < l.numel() / slice; ++s) {
      const bool zero_slice = slice > 1 && g.next_u64() % 100 < 40;
      for (int64_t k = 0; k < slice; ++k) {
        const double frac = static_cast<double>(g.next_u64() % 1000) / 1000.0 * 0.8 - 0.4;
        double q = 0;
        if (!zero_slice && g.next_u64() % 100 < 45) {
          const double u1 = (g.next_u64() % 100000 + 1) / 100001.0,
                       u2 = (g.next_u64() % 100000) / 100000.0;
          q = std::round(2.0 * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2));
        }
        v[s * slice + k] = static_cast<float>(q + frac);
      }
    }
    l.copy_(from_vector(v, l.shape()));
  }
  // Batch-norm parameters and statistics away from their initial values, so the float round
  // trip (and batch norm's folding) is real.
  for (const auto& [name, t] : model.state_dict())
    if (name.find("running_var") != std::string::npos || name.find("bias") != std::string::npos)
      t.copy_(uniform(t.shape(), 0.5, 1.5, &g));
  for (const auto& [path, m] : model.named_modules())
    if (const auto* bn = dynamic_cast<const BatchNorm2d*>(m)) {
      bn->weight().data().copy_(uniform(bn->weight().shape(), 0.5, 1.5, &g));
      bn->running_mean().copy_(uniform(bn->running_mean().shape(), -0.5, 0.5, &g));
    }
}

bool is_batch_norm_tensor(const Module& model, const std::string& name) {
  for (const auto& [path, m] : model.named_modules())
    if (dynamic_cast<const BatchNorm2d*>(m) && name.rfind(path + ".", 0) == 0 &&
        name.find('.', path.size() + 1) == std::string::npos)
      return true;
  return false;
}

struct Fixture {
  Config config;
  DataShape shape;
  BuiltNetwork net;
  Compressed compressed;
  std::vector<uint8_t> bytes;
};

Fixture make_fixture(const std::string& name, const DataShape& shape, const CompressOptions& o = {},
                     int64_t width = 1) {
  Fixture f{network_config(name, width), shape, {}, {}, {}};
  f.net = build_network_from_config(f.config, shape);
  perturb_latents(*f.net.model, 5);
  f.compressed = compress_network(f.config, shape, *f.net.model, *f.net.groups, o);
  f.bytes = write_lnx(f.compressed.file);
  return f;
}

// Bit-identical floats, except that -0 and +0 count as one: a latent that rounds to -0 is the
// integer 0 in the file, and decodes to +0 where the checkpoint's float decoded to -0.
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  std::vector<float> x = a.contiguous().to_vector<float>(), y = b.contiguous().to_vector<float>();
  for (auto* v : {&x, &y})
    for (float& e : *v)
      if (e == 0.0f) e = 0.0f;
  return std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

Tensor logits(Module& m, const Tensor& x) {
  NoGradGuard ng;
  m.eval();
  return m.forward(Variable(x)).data();
}

// Byte offsets of each section: (tag offset, payload offset, payload length).
struct SectionAt {
  size_t head, payload;
  uint64_t length;
};
std::vector<SectionAt> sections_of(const std::vector<uint8_t>& b) {
  std::vector<SectionAt> out;
  size_t p = 12;
  while (p + 16 <= b.size()) {
    uint64_t len = 0;
    for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(b[p + 4 + i]) << (8 * i);
    out.push_back({p, p + 16, len});
    p += 16 + len;
  }
  return out;
}
void fix_crc(std::vector<uint8_t>& b, const SectionAt& s) {
  const uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), b.data() + s.payload, static_cast<uInt>(s.length)));
  for (int i = 0; i < 4; ++i) b[s.head + 12 + i] = static_cast<uint8_t>(crc >> (8 * i));
}

LoadedNetwork open_bytes(const std::vector<uint8_t>& b, const LnxReadOptions& o = {}) {
  return load_lnx_network(read_lnx(b.data(), b.size(), o));
}

}  // namespace

TEST_CASE("a ResNet-20 round trips through .lnx bit for bit", "[lnx]") {
  Fixture f = make_fixture("resnet20", {10, 3, 32});
  const LoadedNetwork loaded = open_bytes(f.bytes);
  const auto want = latent_layers_by_name(*f.net.model);
  const auto got = latent_layers_by_name(*loaded.net.model);
  REQUIRE(want.size() == got.size());
  REQUIRE(want.size() == 20);
  for (const auto& [name, layer] : want) {
    INFO(name);
    // Latents: the same integers; decoded weights: the same float bits.
    CHECK(loaded.latents.at(name) == latent_integers(layer->latent().data(), name));
    CHECK(same_bits(layer->decoded_weight().data(), got.at(name)->decoded_weight().data()));
  }
  // The architecture's config: network and dataset only, which rebuilt the network above.
  CHECK_THAT(f.compressed.file.arch.config_yaml,
             Catch::Contains("network:\n  name: 'resnet20'") && Catch::Contains("dataset:\n") &&
                 !Catch::Contains("trainer:") && !Catch::Contains("losses:"));
  CompressOptions full;
  full.full_config = true;
  CHECK(make_fixture("resnet20", {10, 3, 32}, full).compressed.file.arch.config_yaml ==
        f.config.dump());

  // Every float tensor and decoder exactly; batch norm is folded (its own test case below).
  REQUIRE(f.compressed.file.float_block.folded_batch_norm);
  const StateDict a = f.net.model->state_dict(), b = loaded.net.model->state_dict();
  for (const auto& [name, t] : a) {
    if (t.dtype() != DType::Float32 || want.count(name) ||
        name.find(".prior.") != std::string::npos || is_batch_norm_tensor(*f.net.model, name))
      continue;
    INFO(name);
    CHECK(same_bits(t, b.at(name)));
  }
  Generator g(3);
  const Tensor x = normal({4, 3, 32, 32}, 0, 1, &g);
  CHECK(same_bits(logits(*f.net.model, x), logits(*loaded.net.model, x)));

  // Decoded weights under PyTorch names: W, not latents.
  const auto dec = decoded_weights(loaded);
  CHECK(same_bits(dec.at("conv1.weight"), want.at("conv1.weight")->decoded_weight().data()));
  CHECK(dec.count("groups.conv3x3.decoder.weight") == 0);
  CHECK(dec.count("bn1.running_mean") == 1);

  // Table invariants and honest sizes.
  double ideal = 0, coded = 0;
  for (const LnxGroup& grp : f.compressed.file.groups) {
    CHECK(static_cast<int64_t>(grp.tables.size()) == grp.channels);
    for (const FrequencyTable& t : grp.tables) {
      CHECK_NOTHROW(t.validate("test"));
      uint64_t sum = 0;
      for (uint32_t fr : t.freq()) sum += fr;
      CHECK(sum == kFreqTotal);
    }
  }
  for (const GroupCompression& gc : f.compressed.groups) ideal += gc.coded_bits / 8;
  REQUIRE(f.compressed.file.codes.size() == 2);  // conv3x3 and dense: one stream each
  for (const LnxGroupCode& c : f.compressed.file.codes)
    coded += static_cast<double>(c.stream.size());
  const double overhead = coded / ideal - 1;
  WARN("resnet20 test network: file " << f.bytes.size() << " B, coded latents " << coded
                                      << " B, ideal " << ideal << " B, overhead " << 100 * overhead
                                      << "%");
  CHECK(overhead >= 0);
  CHECK(overhead < 0.005);
}

TEST_CASE("version 1 to 3 files still open, bit for bit, and each version is smaller", "[lnx]") {
  for (const bool half : {false, true}) {
    INFO("float16 " << half);
    std::vector<Fixture> f;
    for (uint32_t version = 1; version <= 4; ++version) {
      CompressOptions o;
      o.version = version;
      o.float16 = half;
      o.fold_batch_norm = false;  // batch norm as trained, the one way versions 1-3 store it
      f.push_back(make_fixture("resnet20", {10, 3, 32}, o));
      REQUIRE(f.back().bytes[4] == version);
    }
    REQUIRE(f[0].compressed.file.latents.size() == 20);
    REQUIRE(f[0].compressed.file.codes.empty());
    const LnxGroupCode& conv = f[2].compressed.file.codes.at(0);
    REQUIRE(conv.group == "conv3x3");
    CHECK(conv.slice_occupancy);  // 40% zero slices: the flags pay
    CHECK_FALSE(f[2].compressed.file.codes.at(1).slice_occupancy);  // dense: single values
    // The trainer's epoch figure for slice flags predicts the file's code length: an entropy,
    // against 16-bit quantized histogram tables of the same values.
    const CompressionReport report = compression_report(*f[2].net.groups);
    REQUIRE(report.groups.at(0).name == "conv3x3");
    const GroupCompression& coded = f[2].compressed.groups.at(0);
    CHECK(coded.slice_occupancy);
    CHECK(coded.coded_bits == Approx(report.groups[0].slice_flag_bits).epsilon(0.002));
    CHECK(coded.coded_bits >= report.groups[0].slice_flag_bits);
    CHECK(report.groups[0].slice_flag_bits < 0.95 * report.groups[0].empirical_bits);
    CHECK(report.groups.at(1).slice_flag_bits == report.groups[1].empirical_bits);
    const LoadedNetwork a = open_bytes(f[0].bytes);
    Generator g(4);
    const Tensor x = normal({2, 3, 32, 32}, 0, 1, &g);
    for (int v = 1; v < 4; ++v) {
      INFO("version " << v + 1);
      const LoadedNetwork b = open_bytes(f[v].bytes);
      CHECK(a.latents == b.latents);
      const StateDict sa = a.net.model->state_dict(), sb = b.net.model->state_dict();
      for (const auto& [name, t] : sa) {
        INFO(name);
        if (t.dtype() == DType::Float32) CHECK(same_bits(t, sb.at(name)));
      }
      CHECK(same_bits(logits(*a.net.model, x), logits(*b.net.model, x)));
    }
    // Version 2 drops per-layer names, shapes, stream ends and float tensor names, and
    // deflates the config; version 3 prices each of the 40% empty slices at about a bit
    // instead of nine zeros.
    CHECK(f[1].bytes.size() + 2000 < f[0].bytes.size());
    CHECK(f[2].bytes.size() + 1000 < f[1].bytes.size());
    CHECK(f[3].bytes.size() == f[2].bytes.size() + 1);  // version 4: the batch-norm form byte
  }
  LnxModel m = make_fixture("small_cnn", {10, 1, 28}).compressed.file;
  m.version = 2;  // slice flags in a version-2 file
  CHECK_THROWS_WITH(write_lnx(m), Catch::Contains("slice occupancy, which needs format version 3"));
  CompressOptions o1;
  o1.version = 1;
  m = make_fixture("small_cnn", {10, 1, 28}, o1).compressed.file;
  m.version = 2;  // per-layer latents in a version-2 file
  CHECK_THROWS_WITH(write_lnx(m), Catch::Contains("version 2 stores group codes"));
  m.version = 9;
  CHECK_THROWS_WITH(write_lnx(m), Catch::Contains("format version 9, expected 1 to 4"));
  m = make_fixture("small_cnn", {10, 1, 28}).compressed.file;
  REQUIRE(m.float_block.folded_batch_norm);
  m.version = 3;  // folded batch norm in a version-3 file
  for (LnxGroupCode& c : m.codes) c.slice_occupancy = false;
  CHECK_THROWS_WITH(write_lnx(m), Catch::Contains("fold batch norm, which needs format version 4"));
}

TEST_CASE("float16 storage keeps floats within half precision and decoders exact", "[lnx]") {
  CompressOptions o;
  o.float16 = true;
  o.fold_batch_norm = false;  // compares the stored tensors with the trained ones
  Fixture f = make_fixture("resnet20", {10, 3, 32}, o);
  o.float16 = false;
  Fixture f32 = make_fixture("resnet20", {10, 3, 32}, o);
  CHECK(f.bytes.size() < f32.bytes.size());
  const LoadedNetwork loaded = open_bytes(f.bytes);
  const StateDict a = f.net.model->state_dict(), b = loaded.net.model->state_dict();
  const auto latents = latent_layers_by_name(*f.net.model);
  for (const auto& [name, t] : a) {
    if (t.dtype() != DType::Float32 || latents.count(name) ||
        name.find(".prior.") != std::string::npos)
      continue;
    INFO(name);
    const std::vector<float> x = t.to_vector<float>(), y = b.at(name).to_vector<float>();
    for (size_t i = 0; i < x.size(); ++i)
      CHECK(std::fabs(x[i] - y[i]) <= std::fabs(x[i]) * 0x1p-11f + 1e-7f);
    if (name.find("decoder") != std::string::npos) CHECK(same_bits(t, b.at(name)));
  }
}

TEST_CASE("batch norm folds to a scale and shift that unfold exactly", "[lnx][fold]") {
  // identity_running_var's promise, over floats of every magnitude and sign (float16's
  // included) and the eps values a network might use.
  Generator g(8);
  for (const double eps : {1e-12, 1e-5, 1e-3, 0.1, 0.5}) {
    const float var = identity_running_var(eps);
    int64_t failures = 0;
    for (int i = 0; i < 200000; ++i) {
      const int exponent = static_cast<int>(g.next_u64() % 80) - 40;
      const float s =
          std::ldexp(static_cast<float>(g.next_u64() % (1u << 24)) / (1u << 24) + 1.0f, exponent) *
          (g.next_u64() % 2 ? 1.0f : -1.0f);
      const float t = static_cast<float>(g.next_u64() % 2001) / 1000.0f - 1.0f;
      const ChannelAffine a = batch_norm_affine(s, t, 0.0f, var, eps);
      failures += a.scale != s || a.shift != t;
    }
    INFO("eps " << eps);
    CHECK(failures == 0);
  }
  // Zero and float16's own values.
  for (const float s : {0.0f, 1.0f, 65504.0f, 0x1p-24f, -0.5f}) {
    const ChannelAffine a = batch_norm_affine(s, s, 0.0f, identity_running_var(1e-5), 1e-5);
    CHECK(a.scale == s);
    CHECK(a.shift == s);
  }
}

TEST_CASE("folded batch norm: half the floats, the same logits bit for bit", "[lnx][fold]") {
  CompressOptions kept;
  kept.fold_batch_norm = false;
  for (const char* name : {"resnet20", "small_cnn"}) {
    INFO(name);
    const DataShape shape =
        std::string(name) == "resnet20" ? DataShape{10, 3, 32} : DataShape{10, 1, 28};
    Fixture folded = make_fixture(name, shape), trained = make_fixture(name, shape, kept);
    REQUIRE(folded.compressed.file.float_block.folded_batch_norm);
    REQUIRE_FALSE(trained.compressed.file.float_block.folded_batch_norm);
    int64_t bn_channels = 0;
    for (const auto& [path, m] : folded.net.model->named_modules())
      if (const auto* bn = dynamic_cast<const BatchNorm2d*>(m)) bn_channels += bn->num_features();
    REQUIRE(bn_channels > 0);
    // Two floats a channel instead of four: running mean and variance are gone.
    CHECK(trained.compressed.file.float_block.values.size() ==
          folded.compressed.file.float_block.values.size() + 2 * bn_channels);
    CHECK(trained.bytes.size() == folded.bytes.size() + 8 * bn_channels);

    const LoadedNetwork a = open_bytes(folded.bytes), b = open_bytes(trained.bytes);
    Generator g(6);
    const Tensor x = normal({3, shape.in_channels, shape.image_size, shape.image_size}, 0, 1, &g);
    const Tensor want = logits(*folded.net.model, x);
    CHECK(same_bits(want, logits(*a.net.model, x)));
    CHECK(same_bits(want, logits(*b.net.model, x)));
    // The folded network's batch norm: scale and shift as weight and bias, statistics implied.
    const StateDict sa = a.net.model->state_dict();
    for (const auto& [path, m] : folded.net.model->named_modules()) {
      const auto* bn = dynamic_cast<const BatchNorm2d*>(m);
      if (!bn) continue;
      INFO(path);
      const std::vector<float> w = bn->weight().data().to_vector<float>(),
                               bias = bn->bias().data().to_vector<float>(),
                               mean = bn->running_mean().to_vector<float>(),
                               var = bn->running_var().to_vector<float>(),
                               scale = sa.at(path + ".weight").to_vector<float>(),
                               shift = sa.at(path + ".bias").to_vector<float>();
      for (size_t c = 0; c < w.size(); ++c) {
        const ChannelAffine e = batch_norm_affine(w[c], bias[c], mean[c], var[c], bn->eps());
        CHECK(scale[c] == e.scale);
        CHECK(shift[c] == e.shift);
      }
      CHECK(sa.at(path + ".running_mean").to_vector<float>() == std::vector<float>(w.size(), 0));
      CHECK(sa.at(path + ".running_var").to_vector<float>() ==
            std::vector<float>(w.size(), identity_running_var(bn->eps())));
    }
    // Folded and float16: the logits err no more than with float16 batch norm as trained
    // (measured: 0.05% of the largest logit folded, 0.08% as trained; the random latents make
    // the logits large).
    auto half_error = [&](bool fold) {
      CompressOptions o;
      o.float16 = true;
      o.fold_batch_norm = fold;
      const Fixture h = make_fixture(name, shape, o);
      const std::vector<float> got = logits(*open_bytes(h.bytes).net.model, x).to_vector<float>(),
                               exact = want.to_vector<float>();
      double err = 0, scale = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        err = std::max(err, std::fabs(double(got[i]) - exact[i]));
        scale = std::max(scale, std::fabs(double(exact[i])));
      }
      return err / scale;
    };
    const double folded_error = half_error(true), trained_error = half_error(false);
    WARN(name << " float16 logits, max error / max logit: folded " << folded_error
              << ", as trained " << trained_error);
    CHECK(folded_error < 0.05);
    CHECK(folded_error < 2 * trained_error + 1e-3);
  }
}

TEST_CASE("float16 conversion rounds to nearest even", "[lnx][half]") {
  CHECK(float_to_half(1.0f) == 0x3c00);
  CHECK(float_to_half(-2.0f) == 0xc000);
  CHECK(float_to_half(0.0f) == 0x0000);
  CHECK(float_to_half(-0.0f) == 0x8000);
  CHECK(float_to_half(65504.0f) == 0x7bff);
  CHECK(float_to_half(65520.0f) == 0x7c00);  // halfway to the next binade: rounds to infinity
  CHECK(float_to_half(65519.0f) == 0x7bff);
  CHECK(float_to_half(0x1p-24f) == 0x0001);  // smallest subnormal
  CHECK(float_to_half(0x1p-25f) == 0x0000);  // a tie rounds to even (zero)
  CHECK(float_to_half(0x1.8p-25f) == 0x0001);
  CHECK(float_to_half(1.0f + 0x1p-11f) == 0x3c00);      // tie, even stays
  CHECK(float_to_half(1.0f + 3 * 0x1p-11f) == 0x3c02);  // tie, odd rounds up
  CHECK(float_to_half(1.0f + 0x1p-11f + 0x1p-20f) == 0x3c01);
  CHECK(float_to_half(INFINITY) == 0x7c00);
  CHECK(std::isnan(half_to_float(float_to_half(NAN))));
  for (uint32_t h = 0; h < 0x7c00; ++h) {  // every finite half survives the trip
    const auto u = static_cast<uint16_t>(h);
    REQUIRE(float_to_half(half_to_float(u)) == u);
    REQUIRE(float_to_half(-half_to_float(u)) == (u | 0x8000));
  }
  CHECK(half_to_float(0x0001) == 0x1p-24f);
  CHECK(half_to_float(0x3555) == Approx(0.333251953125f));
}

TEST_CASE("tables: prior or histogram per channel, whichever is smaller", "[lnx][tables]") {
  Fixture f = make_fixture("small_cnn", {10, 1, 28});
  CompressionGroup& g = f.net.groups->at("conv3x3", "test");
  const std::vector<int32_t> rows = group_integer_rows(g);
  const GroupTables hist = build_group_tables(rows, 9, nullptr, TableSource::Histogram);
  const GroupTables prior = build_group_tables(rows, 9, &g.prior(), TableSource::Prior);
  const GroupTables best = build_group_tables(rows, 9, &g.prior(), TableSource::Auto);
  CHECK(best.coded_bits + best.table_bits <=
        std::min(hist.coded_bits + hist.table_bits, prior.coded_bits + prior.table_bits) + 1e-6);
  for (const auto& t : {hist, prior, best}) {
    REQUIRE(t.tables.size() == 9);
    // Whatever the tables, the coder reproduces the values.
    CHECK(rans_decode(rans_encode(rows, t.tables).data(), rans_encode(rows, t.tables).size(),
                      static_cast<int64_t>(rows.size()), t.tables) == rows);
  }
  for (LnxTableKind k : prior.kinds) CHECK(k == LnxTableKind::Prior);
  // The prior's pmf: a proper distribution over a range covering most mass.
  const auto pmf = prior_pmf(g.prior(), -3, 3);
  REQUIRE(pmf.size() == 9);
  for (const auto& p : pmf) {
    double s = 0;
    for (double v : p) s += v;
    CHECK(s <= 1.0 + 1e-6);
    CHECK(s > 0);
  }
  // Refitting the untrained prior to the frozen latents cuts its bits; latents stay.
  const RefitResult r = refit_prior(g, 200, 2e-2);
  CHECK(r.bits_after < 0.8 * r.bits_before);
  CHECK(group_integer_rows(g) == rows);
  const GroupTables refit = build_group_tables(rows, 9, &g.prior(), TableSource::Prior);
  CHECK(refit.coded_bits < prior.coded_bits);
  CHECK_THROWS_WITH(build_group_tables(rows, 9, nullptr, TableSource::Prior),
                    Catch::Contains("no prior"));
}

TEST_CASE("a checkpoint, its .lnx and the commands agree exactly", "[lnx][tools]") {
  const fs::path dir = fs::temp_directory_path() / str("lnx_test_", ::getpid());
  fs::create_directories(dir);
  // A tiny MNIST-layout data set, so the stored config opens real data.
  auto be32 = [](std::ofstream& f, uint32_t v) {
    const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    f.write(b, 4);
  };
  for (const auto& [prefix, n] : {std::pair{"train", 32}, {"t10k", 16}}) {
    std::ofstream img(dir / str(prefix, "-images-idx3-ubyte"), std::ios::binary);
    std::ofstream lab(dir / str(prefix, "-labels-idx1-ubyte"), std::ios::binary);
    be32(img, 0x803), be32(img, n), be32(img, 28), be32(img, 28);
    be32(lab, 0x801), be32(lab, n);
    for (int i = 0; i < n; ++i) {
      lab.put(static_cast<char>(i % 10));
      for (int p = 0; p < 784; ++p) img.put(static_cast<char>((p * 7 + i * 13) % 251));
    }
  }
  const Config config = Config::parse(
      str("trainer: {epochs: 1, train_batch: 8, test_batch: 16}\n",
          "lr_schedule: {warmup_epochs: 0}\n", "dataset: {name: mnist, trainroot: '", dir.string(),
          "', valroot: '", dir.string(), "', num_workers: 0}\n",
          "network: {name: small_cnn, vanilla: false, width: 1}\n", "checkpoint: {save_dir: '",
          (dir / "run").string(), "'}\n", "common: {seed: 3, threads: 1}\n"),
      {}, "test job");
  Trainer trainer(config, true);
  perturb_latents(trainer.model(), 9);
  const std::string ckpt = (dir / "ck.safetensors").string(), model = (dir / "m.lnx").string();
  trainer.save(ckpt);

  std::vector<std::string> words = {"compress", "--checkpoint",  ckpt, "-o",
                                    model,      "--refit-steps", "20"};
  auto run = [](std::vector<std::string> w, int (*fn)(int, char**)) {
    std::vector<char*> argv;
    for (std::string& s : w) argv.push_back(s.data());
    return fn(static_cast<int>(argv.size()), argv.data());
  };
  REQUIRE(run(words, compress_main) == 0);
  const LoadedNetwork loaded = load_lnx_network(load_lnx_file(model));
  Generator g(1);
  const Tensor x = normal({5, 1, 28, 28}, 0, 1, &g);
  CHECK(same_bits(logits(trainer.model(), x), logits(*loaded.net.model, x)));

  const std::string weights = (dir / "w.safetensors").string();
  CHECK(run({"decompress", model, "-o", weights}, decompress_main) == 0);
  const SafetensorsFile st = read_safetensors(weights);
  const auto layers = latent_layers_by_name(trainer.model());
  CHECK(same_bits(st.tensors.at("0.weight"), layers.at("0.weight")->decoded_weight().data()));
  CHECK(run({"inspect", model}, inspect_main) == 0);
  CHECK(run({"eval", "--model", model}, eval_main) == 0);
  CHECK(run({"eval", "--checkpoint", ckpt}, eval_main) == 0);
  CHECK_THROWS_WITH(
      run({"compress", "--checkpoint", ckpt, "-o", model, "--refit-steps", "x"}, compress_main),
      Catch::Contains("--refit-steps"));
  fs::remove_all(dir);
}

TEST_CASE("the reader names the section and the problem", "[lnx][errors]") {
  Fixture f = make_fixture("small_cnn", {10, 1, 28});
  const std::vector<uint8_t>& good = f.bytes;
  REQUIRE_NOTHROW(open_bytes(good));
  const auto secs = sections_of(good);
  REQUIRE(secs.size() == 2 + f.compressed.file.groups.size() + f.compressed.file.codes.size());
  auto throws = [](std::vector<uint8_t> b, const std::string& what) {
    INFO(what);
    CHECK_THROWS_WITH(open_bytes(b), Catch::Contains(what));
  };
  {
    auto b = good;
    b[0] = 'X';
    throws(b, "wrong magic");
  }
  throws(std::vector<uint8_t>(good.begin(), good.begin() + 6), "header");
  throws(std::vector<uint8_t>(good.begin(), good.end() - 3), "truncated");
  {
    auto b = good;
    b[4] = 5;  // newer than this reader
    throws(b, "format version 5 is not supported");
    b[4] = 0;
    throws(b, "format version 0 is not supported");
  }
  {
    auto b = good;
    b[secs[1].payload + 3] ^= 0x40;
    throws(b, "section 1 (GRRP): CRC mismatch");
  }
  {
    auto b = good;
    b[secs[0].head] = 'Z';  // first section not the architecture
    throws(b, "first section must be the architecture");
  }
  {
    auto b = good;
    b[secs.back().head] = 'Z';
    fix_crc(b, secs.back());
    throws(b, "unknown section type");
  }
  {
    auto b = good;
    b.push_back(0);
    throws(b, "unexpected bytes after the last section");
  }
  {  // a frequency changed: the table no longer sums to 2^16
    auto b = good;
    const size_t name_len = b[secs[1].payload];
    // name, channels, decoder count, decoder tensor (name, rank, dims, 81 floats), first table.
    size_t p = secs[1].payload + 4 + name_len + 8;
    const size_t dname = b[p];
    p += 4 + dname + 4 + 16 + 81 * 4;
    p += 1 + 4 + 4;  // kind, min, count -> first frequency
    b[p] ^= 1;
    fix_crc(b, secs[1]);
    throws(b, "frequencies sum to");
  }
  {  // the slice mode of the conv3x3 code: neither values (0) nor slice flags (1)
    auto b = good;
    const SectionAt& code = secs[1 + f.compressed.file.groups.size()];
    REQUIRE(std::memcmp(b.data() + code.head, "CODE", 4) == 0);
    const size_t name_len = b[code.payload];
    b[code.payload + 4 + name_len + 8] = 7;  // after the name, layer count and checksum
    fix_crc(b, code);
    throws(b, "slice mode 7, expected 0 (values) or 1 (slice occupancy)");
  }
  {  // the batch-norm form of the float tensors: neither as trained (0) nor folded (1)
    auto b = good;
    const SectionAt& flot = secs.back();
    REQUIRE(std::memcmp(b.data() + flot.head, "FLOT", 4) == 0);
    b[flot.payload + 1] = 2;  // after the precision
    fix_crc(b, flot);
    throws(b, "batch-norm form 2, expected 0 (as trained) or 1 (folded)");
  }
  {  // a group's rANS stream cut short
    LnxModel m = f.compressed.file;
    m.codes[0].stream.resize(5);
    throws(write_lnx(m), "group 'conv3x3' code");
  }
  {
    LnxModel m = f.compressed.file;
    m.codes[0].layers += 1;
    throws(write_lnx(m), "layers, the architecture's group has");
    m = f.compressed.file;
    m.codes[0].layout_crc ^= 1;
    throws(write_lnx(m), "names and shapes differ from the architecture's");
    m = f.compressed.file;
    m.codes.pop_back();
    throws(write_lnx(m), "has no code section for group 'dense'");
    m = f.compressed.file;
    m.codes.push_back(m.codes[0]);
    throws(write_lnx(m), "the group's code appears twice");
  }
  {
    LnxModel m = f.compressed.file;
    m.float_block.values.pop_back();
    throws(write_lnx(m), "the architecture expects");
    m = f.compressed.file;
    m.float_block.tensors += 1;
    throws(write_lnx(m), "the architecture expects");
    m = f.compressed.file;
    m.float_block.layout_crc ^= 1;
    throws(write_lnx(m), "float tensors: names and shapes differ");
  }
  {  // the deflated config damaged, its checksum made good again
    auto b = good;
    b[secs[0].payload + 24] ^= 0x5a;
    fix_crc(b, secs[0]);
    throws(b, "does not inflate");
    b = good;
    b[secs[0].payload + 12 + 2] = 0x40;  // the YAML length: 4 MiB
    fix_crc(b, secs[0]);
    throws(b, "config YAML length is");
  }
  {
    LnxModel m = f.compressed.file;
    m.groups[0].decoder[0].shape = {3, 27};
    throws(write_lnx(m), "the architecture expects [9, 9]");
  }
  {
    LnxModel m = f.compressed.file;
    m.arch.config_yaml = "network: {name: small_cnn, vanilla: false, width: 100000}\n";
    throws(write_lnx(m), "network.width is 100000");
    m.arch.config_yaml = "network: {name: resnet7, vanilla: false}\n";
    throws(write_lnx(m), "cannot be built");
    m.arch.config_yaml = "network: [\n";
    throws(write_lnx(m), "does not parse");
  }
  {
    LnxModel m = f.compressed.file;
    m.groups.pop_back();
    throws(write_lnx(m), "has no table section before it");
  }
  {
    auto b = good;
    b[8] = b[9] = b[10] = b[11] = 0xff;
    throws(b, "section count 4294967295 exceeds");
  }
  {
    auto b = good;
    b[secs.back().head + 11] = 0x10;  // the length's top byte
    throws(b, "bytes left in the file (truncated?)");
  }
  {
    LnxModel m = f.compressed.file;
    m.groups.push_back(m.groups[0]);
    throws(write_lnx(m), "the group appears twice");
    m = f.compressed.file;
    m.groups[0].channels = 1;
    m.groups[0].tables.resize(1);
    m.groups[0].kinds.resize(1);
    throws(write_lnx(m), "1 channels, the architecture expects 9");
  }
  CHECK_THROWS_WITH(load_lnx_file("/nonexistent/x.lnx"), Catch::Contains("cannot open"));
}

TEST_CASE("the version-1 reader names the section and the problem", "[lnx][errors]") {
  CompressOptions o;
  o.version = 1;
  Fixture f = make_fixture("small_cnn", {10, 1, 28}, o);
  REQUIRE_NOTHROW(open_bytes(f.bytes));
  auto throws = [](const LnxModel& m, const std::string& what) {
    INFO(what);
    CHECK_THROWS_WITH(open_bytes(write_lnx(m)), Catch::Contains(what));
  };
  LnxModel m = f.compressed.file;
  m.latents[0].stream.resize(5);
  throws(m, "layer '0.weight'");
  m = f.compressed.file;
  m.latents[0].shape[0] = 17;
  throws(m, "the architecture expects [16, 1, 3, 3]");
  m = f.compressed.file;
  m.latents.pop_back();
  throws(m, "has no section for layer");
  m = f.compressed.file;
  m.latents[1].group = "dense";
  throws(m, "the architecture puts it in 'conv3x3'");
  m = f.compressed.file;
  m.latents.push_back(m.latents[0]);
  throws(m, "the layer appears twice");
  m = f.compressed.file;
  m.floats.pop_back();
  throws(m, "is missing");
  m = f.compressed.file;
  m.floats[0].name = "nope.weight";
  throws(m, "'nope.weight' is not part of the architecture");
  m = f.compressed.file;
  m.floats.push_back(m.floats[0]);
  throws(m, "appears twice");
  // A section of the other version, spliced in before the float section, is refused by name.
  const Fixture f2 = make_fixture("small_cnn", {10, 1, 28});
  auto splice = [](std::vector<uint8_t> into, const std::vector<uint8_t>& from, uint32_t tag) {
    const auto to = sections_of(into);
    for (const SectionAt& s : sections_of(from)) {
      uint32_t t = 0;
      for (int k = 0; k < 4; ++k) t |= static_cast<uint32_t>(from[s.head + k]) << (8 * k);
      if (t != tag) continue;
      const SectionAt& floats = to[to.size() - 1];
      into.insert(into.begin() + static_cast<std::ptrdiff_t>(floats.head),
                  from.begin() + static_cast<std::ptrdiff_t>(s.head),
                  from.begin() + static_cast<std::ptrdiff_t>(s.payload + s.length));
      into[8] += 1;  // one more section
      return into;
    }
    FAIL("no such section");
    return into;
  };
  CHECK_THROWS_WITH(
      open_bytes(splice(f2.bytes, f.bytes, static_cast<uint32_t>(LnxSection::Latent))),
      Catch::Contains("(LATN): per-layer latent sections belong to version 1"));
  CHECK_THROWS_WITH(open_bytes(splice(f.bytes, f2.bytes, static_cast<uint32_t>(LnxSection::Code))),
                    Catch::Contains("(CODE): group code sections begin with version 2"));
}

TEST_CASE("flipped and truncated bytes give lnx::Error, never a crash", "[lnx][mutation]") {
  // A small network keeps each attempt cheap: width-1 small_cnn with three classes.
  Fixture f = make_fixture("small_cnn", {3, 1, 28});
  const std::vector<uint8_t>& good = f.bytes;
  REQUIRE_NOTHROW(open_bytes(good));
  Generator g(77);
  int errors = 0, opened = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> b = good;
    const uint64_t kind = g.next_u64() % 4;
    if (kind == 0) {
      b.resize(g.next_u64() % b.size());
    } else {
      const int flips = 1 + static_cast<int>(g.next_u64() % 4);
      for (int k = 0; k < flips; ++k)
        b[g.next_u64() % b.size()] ^= static_cast<uint8_t>(1 + g.next_u64() % 255);
    }
    // Half the attempts skip the checksums so the mutations reach the parsers behind them.
    LnxReadOptions o;
    o.verify_crc = trial % 2 == 0;
    try {
      open_bytes(b, o);
      ++opened;
    } catch (const Error& e) {
      ++errors;
      REQUIRE(std::string(e.what()).find("lnx") != std::string::npos);
    }
  }
  CHECK(errors > 1500);
  CHECK(errors + opened == 3000);
}
