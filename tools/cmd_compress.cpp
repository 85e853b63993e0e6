// `lilnetx compress`, `lilnetx decompress` and `lilnetx inspect`: .lnx files (docs/format.md).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include "autograd/grad_mode.h"
#include "compress/latent_layers.h"
#include "compress/range_coder.h"
#include "compress/sparsity_stats.h"
#include "core/ops.h"
#include "core/safetensors.h"
#include "tools/commands.h"
#include "tools/lnx_model.h"

namespace lnx::tools {
namespace {

std::string next_arg(int& i, int argc, char** argv, const char* cmd, const std::string& flag) {
  LNX_CHECK(i + 1 < argc, cmd, ": ", flag, " needs a value");
  return argv[++i];
}

int64_t parse_int(const std::string& s, const char* cmd, const char* flag) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  LNX_CHECK(used == s.size() && !s.empty(), cmd, ": ", flag, " got '", s, "', expected an integer");
  return v;
}

// Per-channel entropy of the values present, in bits: rows (M, C).
double empirical_bits(const std::vector<int32_t>& rows, int64_t c) {
  const int64_t m = static_cast<int64_t>(rows.size()) / c;
  double bits = 0;
  for (int64_t ch = 0; ch < c; ++ch) {
    std::map<int32_t, int64_t> hist;
    for (int64_t i = 0; i < m; ++i) hist[rows[i * c + ch]]++;
    for (const auto& [v, n] : hist) bits -= static_cast<double>(n) * std::log2(double(n) / m);
  }
  return bits;
}

}  // namespace

int compress_main(int argc, char** argv) {
  std::string checkpoint, out;
  CompressOptions o;
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    const std::string w = argv[i];
    if (w == "-h" || w == "--help") {
      help = true;
    } else if (w == "--checkpoint") {
      checkpoint = next_arg(i, argc, argv, "compress", w);
    } else if (w == "-o" || w == "--output") {
      out = next_arg(i, argc, argv, "compress", w);
    } else if (w == "--refit-steps") {
      o.refit_steps = static_cast<int>(
          parse_int(next_arg(i, argc, argv, "compress", w), "compress", "--refit-steps"));
      LNX_CHECK(o.refit_steps >= 0, "compress: --refit-steps must be >= 0");
    } else if (w == "--float16") {
      o.float16 = true;
    } else if (w == "--with-prior") {
      o.with_prior = true;
    } else if (w == "--no-slice-flags") {
      o.slice_occupancy = false;
    } else if (w == "--no-fold-bn") {
      o.fold_batch_norm = false;
    } else if (w == "--full-config") {
      o.full_config = true;
    } else if (w == "--format-version") {
      const int64_t v =
          parse_int(next_arg(i, argc, argv, "compress", w), "compress", "--format-version");
      LNX_CHECK(v >= 1 && v <= kLnxVersion, "compress: --format-version got ", v,
                ", expected 1 to ", kLnxVersion);
      o.version = static_cast<uint32_t>(v);
    } else if (w == "--tables") {
      const std::string t = next_arg(i, argc, argv, "compress", w);
      LNX_CHECK(t == "auto" || t == "prior" || t == "histogram", "compress: --tables got '", t,
                "', expected auto, prior or histogram");
      o.tables = t == "prior"       ? TableSource::Prior
                 : t == "histogram" ? TableSource::Histogram
                                    : TableSource::Auto;
    } else {
      fail("compress: unknown argument '", w, "'");
    }
  }
  if (help || checkpoint.empty() || out.empty()) {
    std::cout
        << "usage: lilnetx compress --checkpoint FILE -o MODEL.lnx [--refit-steps N]\n"
           "                        [--float16] [--with-prior] [--tables auto|prior|histogram]\n"
           "                        [--no-slice-flags] [--no-fold-bn] [--full-config]\n"
           "                        [--format-version N]\n\n"
           "Entropy codes a LilNetX checkpoint's integer latents into a .lnx file with its\n"
           "architecture, decoders, tables and float tensors (docs/format.md).\n"
           "  --refit-steps N  refit each prior to the frozen latents first (Adam, N steps)\n"
           "  --float16        store biases and batch-norm tensors as float16\n"
           "  --with-prior     also store the priors' parameters (not needed to decode)\n"
           "  --tables         per-channel tables: the smaller of both (auto), or one kind\n"
           "  --no-slice-flags code every value, even where a flag per kernel slice first\n"
           "                   (then only the non-zero slices' values) is smaller\n"
           "  --no-fold-bn     keep batch norm's weight, bias and running statistics as\n"
           "                   trained (for fine-tuning from the file) instead of the scale\n"
           "                   and shift its evaluation applies (the same logits, half the bytes)\n"
           "  --full-config    store the whole training config, not only its network and\n"
           "                   dataset sections (provenance; 492 bytes more on ResNet-20)\n"
           "  --format-version write an older layout (1 to 3) for older readers\n";
    return help ? 0 : 1;
  }
  const Compressed c = compress_checkpoint(checkpoint, o);
  save_lnx_file(out, c.file);
  for (const GroupCompression& g : c.groups) {
    std::printf("%-8s prior %.0f B", g.name.c_str(), g.prior_bits_before / 8);
    if (o.refit_steps > 0) std::printf(" -> %.0f B refit", g.prior_bits / 8);
    std::printf(", coded %.0f B + tables %.0f B (%lld prior, %lld histogram tables)",
                g.coded_bits / 8, g.table_bits / 8, static_cast<long long>(g.prior_tables),
                static_cast<long long>(g.histogram_tables));
    if (g.slice_occupancy) std::printf(", slice flags first (%.0f B without)", g.plain_bits / 8);
    std::printf("\n");
  }
  std::printf("wrote %s: %lld bytes\n", out.c_str(),
              static_cast<long long>(std::filesystem::file_size(out)));
  return 0;
}

int decompress_main(int argc, char** argv) {
  std::string in, out;
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    const std::string w = argv[i];
    if (w == "-h" || w == "--help") {
      help = true;
    } else if (w == "-o" || w == "--output") {
      out = next_arg(i, argc, argv, "decompress", w);
    } else if (in.empty() && w.rfind("-", 0) != 0) {
      in = w;
    } else {
      fail("decompress: unknown argument '", w, "'");
    }
  }
  if (help || in.empty() || out.empty()) {
    std::cout << "usage: lilnetx decompress MODEL.lnx -o WEIGHTS.safetensors\n\n"
                 "Decodes a .lnx file to float weights under PyTorch-style names (convolution and\n"
                 "linear weights as decoded W, not latents). A file with folded batch norm gives\n"
                 "each batch norm's scale and shift as its weight and bias, running mean 0 and a\n"
                 "running variance of 1 - eps: the same evaluation, not the trained statistics.\n";
    return help ? 0 : 1;
  }
  const LoadedNetwork net = load_lnx_network(load_lnx_file(in));
  write_safetensors(out, decoded_weights(net),
                    {{"format", "lilnetx.decoded"}, {"config", net.config.dump()}});
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

int inspect_main(int argc, char** argv) {
  std::string in;
  for (int i = 1; i < argc; ++i) {
    const std::string w = argv[i];
    if (w == "-h" || w == "--help" || !in.empty()) {
      std::cout << "usage: lilnetx inspect MODEL.lnx\n\nPer layer and per group: sizes, sparsity, "
                   "FLOPs, the prior's estimate, the entropy and the coder's overhead.\n";
      return w == "-h" || w == "--help" ? 0 : 1;
    }
    in = w;
  }
  LNX_CHECK(!in.empty(), "inspect: no .lnx file given (usage: lilnetx inspect MODEL.lnx)");
  const LnxModel file = load_lnx_file(in);
  const LoadedNetwork net = load_lnx_network(file);
  NoGradGuard ng;
  // One forward on a dummy image: each convolution learns its output size for the FLOP counts.
  net.net.model->forward(
      Variable(zeros({1, net.shape.in_channels, net.shape.image_size, net.shape.image_size})));
  const auto layers = latent_layers_by_name(*net.net.model);
  std::map<std::string, const LnxGroup*> groups;
  for (const LnxGroup& g : file.groups) groups[g.name] = &g;
  std::map<std::string, const LnxGroupCode*> codes;
  for (const LnxGroupCode& c : file.codes) codes[c.group] = &c;

  // Per layer: its ideal code length under the stored tables (a version-2 stream interleaves a
  // group's layers, so only a group's real bytes exist); per group: the real stream bytes.
  std::printf("%-28s %-16s %9s %7s %7s %9s %9s %10s %10s\n", "layer", "shape", "ideal B", "bits/w",
              "slices0", "in0", "out0", "MFLOPs", "sparse");
  SparsityStats total;
  struct GroupSums {
    std::vector<int32_t> rows;
    double ideal_bits = 0;
    int64_t coded = 0;
  };
  std::map<std::string, GroupSums> sums;
  for (const LnxLatent& l : file.latents) sums[l.group].coded += std::ssize(l.stream);
  for (const LnxGroupCode& c : file.codes) sums[c.group].coded += std::ssize(c.stream);
  for (const auto& [name, t] : net.net.model->state_dict()) {
    const auto it = layers.find(name);
    if (it == layers.end()) continue;
    const LatentLayer& layer = *it->second;
    const std::vector<int32_t>& q = net.latents.at(name);
    const LnxGroup& g = *groups.at(layer.group().name());
    GroupSums& s = sums[g.name];
    s.rows.insert(s.rows.end(), q.begin(), q.end());
    const auto code = codes.find(g.name);
    const double bits = code != codes.end() && code->second->slice_occupancy
                            ? rans_slices_ideal_bits(q, code->second->occupancy, g.tables)
                            : rans_ideal_bits(q, g.tables);
    s.ideal_bits += bits;
    const std::vector<float> qf(q.begin(), q.end());
    const SparsityStats st =
        measure_sparsity(from_vector(qf, t.shape()), layer.output_pixels(), layer.conv_groups());
    if (t.dim() == 4) total += st;
    const std::string shape = to_string(t.shape());
    std::printf("%-28s %-16s %9.1f %7.3f %6.1f%% %4lld/%-4lld %4lld/%-4lld %10.3f %10.3f\n",
                name.c_str(), shape.c_str(), bits / 8, bits / q.size(), 100 * st.slice_sparsity(),
                static_cast<long long>(st.zero_in_channels), static_cast<long long>(st.in_channels),
                static_cast<long long>(st.zero_out_channels),
                static_cast<long long>(st.out_channels), st.dense_flops / 1e6,
                st.sparse_flops / 1e6);
  }
  std::printf("convolutions: slice sparsity %.1f%%, FLOPs %.3f M -> %.3f M (%.2fx)\n\n",
              100 * total.slice_sparsity(), total.dense_flops / 1e6, total.sparse_flops / 1e6,
              total.flops_reduction());

  std::printf("%-8s %12s %12s %12s %12s %9s %8s\n", "group", "prior B", "entropy B", "ideal B",
              "coded B", "overhead", "tables B");
  double ideal_all = 0;
  int64_t coded_all = 0;
  for (const LnxGroup& g : file.groups) {
    const GroupSums& s = sums[g.name];
    std::string prior = "n/a";
    const CompressionGroup* cg = net.net.groups->find(g.name);
    if (!file.priors.empty() && cg && !s.rows.empty()) {
      const std::vector<float> f(s.rows.begin(), s.rows.end());
      const Tensor t = from_vector(f, {static_cast<int64_t>(f.size()) / g.channels, g.channels});
      prior = str(
          static_cast<int64_t>(std::llround(ops::sum(cg->prior().bits_per_element(t)).item() / 8)));
    }
    int64_t table_bytes = 0;
    for (const FrequencyTable& t : g.tables) table_bytes += lnx_table_bytes(t);
    if (const auto code = codes.find(g.name); code != codes.end() && code->second->slice_occupancy)
      table_bytes += lnx_table_bytes(code->second->occupancy);
    const double entropy = s.rows.empty() ? 0 : empirical_bits(s.rows, g.channels);
    std::printf("%-8s %12s %12.1f %12.1f %12lld %8.3f%% %8lld\n", g.name.c_str(), prior.c_str(),
                entropy / 8, s.ideal_bits / 8, static_cast<long long>(s.coded),
                s.ideal_bits > 0 ? 100 * (8.0 * s.coded / s.ideal_bits - 1) : 0.0,
                static_cast<long long>(table_bytes));
    ideal_all += s.ideal_bits;
    coded_all += s.coded;
  }
  if (file.priors.empty())
    std::printf("(prior B: the file holds no prior; compress --with-prior)\n");
  for (const LnxGroupCode& c : file.codes)
    if (c.slice_occupancy)
      std::printf(
          "(%s: coded with a flag per slice first; entropy B is of the values alone, "
          "without flags, and can exceed ideal B)\n",
          c.group.c_str());

  std::map<std::string, uint64_t> by_tag;
  uint64_t size = file.header_bytes;
  for (const LnxSectionInfo& s : file.sections) {
    by_tag[lnx_section_name(s.tag)] += s.bytes;
    size += s.bytes;
  }
  std::printf("\nfile %s: %llu bytes (header %llu", in.c_str(),
              static_cast<unsigned long long>(size),
              static_cast<unsigned long long>(file.header_bytes));
  for (const auto& [tag, bytes] : by_tag)
    std::printf(", %s %llu", tag.c_str(), static_cast<unsigned long long>(bytes));
  std::printf(
      ")\ncoded latents %lld bytes, ideal %.1f bytes under the stored tables: overhead %.3f%%\n",
      static_cast<long long>(coded_all), ideal_all / 8,
      ideal_all > 0 ? 100 * (8.0 * coded_all / ideal_all - 1) : 0.0);
  std::printf("float tensors stored as %s%s\n", file.float16 ? "float16" : "float32",
              file.float_block.folded_batch_norm
                  ? "; batch norm folded to a scale and shift per channel (inference only)"
                  : "");
  return 0;
}

}  // namespace lnx::tools
