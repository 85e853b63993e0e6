#include "tools/tradeoff.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lnx::tools {

TradeoffPoint read_tradeoff_point(const std::string& run_dir) {
  const std::filesystem::path file = std::filesystem::path(run_dir) / "metrics.jsonl";
  std::ifstream in(file);
  LNX_CHECK(in.good(), "plot: cannot read ", file.string());
  TradeoffPoint p;
  p.run = std::filesystem::path(run_dir).filename().string();
  if (p.run.empty()) p.run = std::filesystem::path(run_dir).parent_path().filename().string();
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("plot: ", file.string(), " holds a line that is not JSON (", e.what(), ")");
    }
    if (!j.contains("test_acc") || !j.contains("size_fitted_kb")) continue;
    p.epoch = j.value("epoch", 0);
    p.test_acc = j["test_acc"].get<double>();
    p.size_kb = j["size_fitted_kb"].get<double>();
    p.slice_sparsity = j.value("latent_slice_sparsity", 0.0);
    const double dense = j.value("flops_dense", 0.0), sparse = j.value("flops_sparse", 0.0);
    p.flops_reduction = sparse > 0 ? dense / sparse : 0.0;
    found = true;
  }
  LNX_CHECK(found, "plot: ", file.string(),
            " has no evaluated LilNetX epoch (no line with test_acc and size_fitted_kb)");
  return p;
}

std::string tradeoff_table(const std::vector<TradeoffPoint>& points) {
  std::string t =
      "| run | epochs | test top-1 | size (KB, fitted tables) | slice sparsity | FLOPs reduction "
      "|\n"
      "|---|---|---|---|---|---|\n";
  char row[256];
  for (const TradeoffPoint& p : points) {
    std::snprintf(row, sizeof row, "| %s | %d | %.2f%% | %.1f | %.1f%% | %.2fx |\n", p.run.c_str(),
                  p.epoch, 100 * p.test_acc, p.size_kb, 100 * p.slice_sparsity, p.flops_reduction);
    t += row;
  }
  return t;
}

std::string tradeoff_svg(const std::vector<TradeoffPoint>& points_in) {
  LNX_CHECK(!points_in.empty(), "plot: no runs to plot");
  std::vector<TradeoffPoint> points = points_in;
  std::sort(points.begin(), points.end(),
            [](const TradeoffPoint& a, const TradeoffPoint& b) { return a.size_kb < b.size_kb; });
  const double w = 640, h = 420, left = 70, right = 30, top = 30, bottom = 60;
  double xmin = 1e300, xmax = 0, ymin = 1, ymax = 0;
  for (const TradeoffPoint& p : points) {
    xmin = std::min(xmin, std::max(p.size_kb, 1e-3));
    xmax = std::max(xmax, std::max(p.size_kb, 1e-3));
    ymin = std::min(ymin, p.test_acc);
    ymax = std::max(ymax, p.test_acc);
  }
  const double lx0 = std::log10(xmin) - 0.1, lx1 = std::log10(xmax) + 0.1;
  const double y0 = std::max(0.0, ymin - 0.02), y1 = std::min(1.0, ymax + 0.02);
  auto px = [&](double kb) {
    return left + (std::log10(std::max(kb, 1e-3)) - lx0) / (lx1 - lx0) * (w - left - right);
  };
  auto py = [&](double acc) { return h - bottom - (acc - y0) / (y1 - y0) * (h - top - bottom); };
  std::string s = str("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", w, "\" height=\"", h,
                      "\" font-family=\"sans-serif\" font-size=\"12\">\n",
                      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
  s += str("<line x1=\"", left, "\" y1=\"", h - bottom, "\" x2=\"", w - right, "\" y2=\"",
           h - bottom, "\" stroke=\"black\"/>\n<line x1=\"", left, "\" y1=\"", top, "\" x2=\"",
           left, "\" y2=\"", h - bottom, "\" stroke=\"black\"/>\n");
  s += str("<text x=\"", (w + left - right) / 2, "\" y=\"", h - 15,
           "\" text-anchor=\"middle\">estimated size with fitted tables, no slice flags (KB, log "
           "scale)</text>\n");
  s += str("<text x=\"18\" y=\"", (h - bottom + top) / 2, "\" text-anchor=\"middle\" transform=\"",
           "rotate(-90 18 ", (h - bottom + top) / 2, ")\">test top-1 accuracy (%)</text>\n");
  for (int i = 0; i <= 4; ++i) {  // y ticks
    const double acc = y0 + (y1 - y0) * i / 4;
    s += str("<text x=\"", left - 8, "\" y=\"", py(acc) + 4, "\" text-anchor=\"end\">",
             std::round(1000 * acc) / 10, "</text>\n");
  }
  for (double e = std::ceil(lx0 * 4) / 4; e <= lx1; e += 0.25) {  // x ticks at 10^(k/4)
    const double kb = std::pow(10.0, e);
    s += str("<text x=\"", px(kb), "\" y=\"", h - bottom + 18, "\" text-anchor=\"middle\">",
             std::round(kb * 10) / 10, "</text>\n");
  }
  std::string path;
  for (const TradeoffPoint& p : points)
    path += str(path.empty() ? "M" : " L", px(p.size_kb), " ", py(p.test_acc));
  s += str("<path d=\"", path, "\" fill=\"none\" stroke=\"#1f77b4\"/>\n");
  for (const TradeoffPoint& p : points) {
    s += str("<circle cx=\"", px(p.size_kb), "\" cy=\"", py(p.test_acc),
             "\" r=\"4\" fill=\"#1f77b4\"/>\n");
    s += str("<text x=\"", px(p.size_kb) + 6, "\" y=\"", py(p.test_acc) - 6, "\">", p.run,
             "</text>\n");
  }
  return s + "</svg>\n";
}

int plot_main(int argc, char** argv) {
  std::vector<std::string> runs;
  std::string out = "tradeoff.svg";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::cout << "usage: lilnetx plot RUN_DIR... [-o tradeoff.svg]\n\n"
                   "Reads each LilNetX run's metrics.jsonl (its last evaluated epoch), prints a\n"
                   "Markdown table and writes an SVG of accuracy against size.\n";
      return 0;
    }
    if (a == "-o") {
      LNX_CHECK(i + 1 < argc, "plot: -o needs a file name");
      out = argv[++i];
    } else {
      runs.push_back(a);
    }
  }
  LNX_CHECK(!runs.empty(), "plot: give at least one run folder (checkpoint.save_dir)");
  std::vector<TradeoffPoint> points;
  for (const std::string& r : runs) points.push_back(read_tradeoff_point(r));
  std::cout << tradeoff_table(points);
  std::ofstream(out) << tradeoff_svg(points);
  std::cout << "wrote " << out << "\n";
  return 0;
}

}  // namespace lnx::tools
