#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tools/tradeoff.h"

using namespace lnx::tools;
namespace fs = std::filesystem;

namespace {

fs::path write_run(const fs::path& root, const std::string& name, double acc, double kb) {
  const fs::path dir = root / name;
  fs::create_directories(dir);
  std::ofstream f(dir / "metrics.jsonl");
  f << R"({"epoch":1,"train_loss":1.0})"
    << "\n";  // not evaluated: skipped
  f << "{\"epoch\":2,\"test_acc\":" << acc << ",\"size_fitted_kb\":" << kb
    << ",\"latent_slice_sparsity\":0.5,\"flops_dense\":40.0,\"flops_sparse\":20.0}\n";
  return dir;
}

}  // namespace

TEST_CASE("trade-off table and plot from run folders", "[plot]") {
  const fs::path root = fs::temp_directory_path() / "lnx_tradeoff_test";
  fs::remove_all(root);
  const TradeoffPoint a = read_tradeoff_point(write_run(root, "small", 0.88, 12.5).string());
  const TradeoffPoint b = read_tradeoff_point(write_run(root, "large", 0.91, 40.0).string());
  CHECK(a.epoch == 2);
  CHECK(a.test_acc == Approx(0.88));
  CHECK(a.flops_reduction == Approx(2.0));
  const std::string table = tradeoff_table({a, b});
  CHECK(table.find("| small | 2 | 88.00% | 12.5 | 50.0% | 2.00x |") != std::string::npos);
  const std::string svg = tradeoff_svg({b, a});
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find(">small<") != std::string::npos);
  CHECK(svg.find(">large<") != std::string::npos);
  fs::create_directories(root / "vanilla");
  std::ofstream(root / "vanilla" / "metrics.jsonl") << R"({"epoch":1,"test_acc":0.9})"
                                                    << "\n";
  CHECK_THROWS_WITH(read_tradeoff_point((root / "vanilla").string()),
                    Catch::Contains("no evaluated LilNetX epoch"));
  CHECK_THROWS_WITH(read_tradeoff_point((root / "missing").string()),
                    Catch::Contains("cannot read"));
  fs::remove_all(root);
}
