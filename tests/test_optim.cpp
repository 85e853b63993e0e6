#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <vector>

#include "autograd/ops.h"
#include "core/ops.h"
#include "core/random.h"
#include "layers/optim/adam.h"
#include "layers/optim/schedule.h"
#include "layers/optim/sgd.h"

using namespace lnx;

namespace {

// The tiny problem of tests/fixtures/optim_reference.py: loss = sum((X W + b - Y)^2).
struct Problem {
  Tensor X = from_vector(std::vector<float>{0.5f, -1.0f, 2.0f, 1.5f, 0.25f, -0.5f, -1.0f, 0.75f,
                                            1.0f, 0.0f, -0.5f, 0.5f},
                         {4, 3});
  Tensor Y =
      from_vector(std::vector<float>{1.0f, -1.0f, 0.5f, 2.0f, -1.5f, 0.0f, 0.25f, 0.75f}, {4, 2});
  Variable W{from_vector(std::vector<float>{0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, {3, 2}), true,
             "W"};
  Variable b{from_vector(std::vector<float>{0.05f, -0.05f}, {2}), true, "b"};

  void backward() {
    W.zero_grad();
    b.zero_grad();
    Variable loss = sum(square(matmul(Variable(X), W) + b - Variable(Y)));
    loss.backward();
  }
  std::vector<float> values() const {
    std::vector<float> v = W.data().to_vector<float>();
    for (float x : b.data().to_vector<float>()) v.push_back(x);
    return v;
  }
};

using Steps = std::vector<std::vector<float>>;

void check_close(const std::vector<float>& got, const std::vector<float>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", want " << want[i]);
    CHECK(std::abs(got[i] - want[i]) <= tol * (1.0 + std::abs(want[i])));
  }
}

// Runs three steps with both the fused CPU loop and the per-op Tensor path.
void check_steps(const std::function<std::unique_ptr<Optimizer>(Problem&)>& make, const Steps& want,
                 double tol = 2e-6) {
  for (bool fused : {true, false}) {
    INFO("fused = " << fused);
    Problem pb;
    auto opt = make(pb);
    opt->set_fused(fused);
    for (size_t s = 0; s < want.size(); ++s) {
      INFO("step " << s + 1);
      pb.backward();
      opt->step();
      check_close(pb.values(), want[s], tol);
    }
  }
}

}  // namespace

// Expected values: torch 1.13 (float32), printed by tests/fixtures/optim_reference.py.
TEST_CASE("SGD matches torch.optim.SGD", "[optim][sgd]") {
  SECTION("plain") {
    check_steps(
        [](Problem& p) {
          return std::make_unique<SGD>(std::vector{p.W, p.b}, SGDOptions{0.01});
        },
        {{0.144749999f, -0.119000003f, 0.23225002f, 0.423000008f, -0.429250002f, 0.494500011f,
          0.0820000023f, -0.0390000045f},
         {0.185603127f, -0.0450700074f, 0.170443147f, 0.443236262f, -0.369733125f, 0.401907504f,
          0.1056225f, -0.0239400044f},
         {0.222935215f, 0.0223489385f, 0.113839485f, 0.461148769f, -0.319576383f, 0.320363224f,
          0.122349061f, -0.00580549054f}});
  }
  SECTION("momentum") {
    check_steps(
        [](Problem& p) {
          return std::make_unique<SGD>(std::vector{p.W, p.b},
                                       SGDOptions{.lr = 0.01, .momentum = 0.9});
        },
        {{0.144749999f, -0.119000003f, 0.23225002f, 0.423000008f, -0.429250002f, 0.494500011f,
          0.0820000023f, -0.0390000045f},
         {0.225878119f, 0.0278299898f, 0.109468155f, 0.463936269f, -0.306058139f, 0.306957513f,
          0.134422496f, -0.0140400091f},
         {0.332718313f, 0.221032932f, -0.05229038f, 0.516204f, -0.155138537f, 0.0682417378f,
          0.190789551f, 0.0302124992f}});
  }
  SECTION("momentum with dampening") {
    check_steps(
        [](Problem& p) {
          return std::make_unique<SGD>(std::vector{p.W, p.b},
                                       SGDOptions{.lr = 0.01, .momentum = 0.9, .dampening = 0.5});
        },
        {{0.144749999f, -0.119000003f, 0.23225002f, 0.423000008f, -0.429250002f, 0.494500011f,
          0.0820000023f, -0.0390000045f},
         {0.205451563f, -0.00913500693f, 0.140371591f, 0.453818142f, -0.335816562f, 0.353253752f,
          0.122611247f, -0.0215700101f},
         {0.277875692f, 0.121899232f, 0.0307527762f, 0.489847958f, -0.22936298f, 0.188406304f,
          0.165478766f, 0.00424261531f}});
  }
  SECTION("nesterov with weight decay") {
    check_steps(
        [](Problem& p) {
          return std::make_unique<SGD>(
              std::vector{p.W, p.b},
              SGDOptions{.lr = 0.01, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true});
        },
        {{0.184835002f, -0.0457199924f, 0.17070502f, 0.442939997f, -0.364625007f, 0.398409992f,
          0.110704996f, -0.0290050115f},
         {0.291644573f, 0.14840427f, 0.00808102731f, 0.494125456f, -0.212574646f, 0.158049434f,
          0.166833907f, 0.0156438351f},
         {0.40733844f, 0.357637525f, -0.168958455f, 0.546213865f, -0.0715418756f, -0.085253194f,
          0.200150073f, 0.0887418464f}});
  }
  SECTION("weight decay") {
    check_steps(
        [](Problem& p) {
          return std::make_unique<SGD>(std::vector{p.W, p.b},
                                       SGDOptions{.lr = 0.01, .weight_decay = 0.5});
        },
        {{0.144249991f, -0.118000001f, 0.230750009f, 0.421000004f, -0.426750004f, 0.49150002f,
          0.081749998f, -0.038750004f},
         {0.184433118f, -0.0436350033f, 0.167915627f, 0.439128757f, -0.365415633f, 0.396715015f,
          0.104828753f, -0.0233762562f},
         {0.220961347f, 0.0237406306f, 0.110679075f, 0.454861641f, -0.313958794f, 0.313612521f,
          0.12083374f, -0.00492818747f}});
  }
}

TEST_CASE("Adam matches torch.optim.Adam", "[optim][adam]") {
  SECTION("defaults") {
    check_steps(
        [](Problem& p) {
          return std::make_unique<Adam>(std::vector{p.W, p.b}, AdamOptions{.lr = 0.05});
        },
        {{0.149999991f, -0.150000006f, 0.25f, 0.449999988f, -0.449999988f, 0.550000012f,
          0.100000001f, 0.0f},
         {0.199784085f, -0.100091577f, 0.200131997f, 0.499815345f, -0.400309891f, 0.500075638f,
          0.149029002f, 0.0496764518f},
         {0.249168724f, -0.0503434725f, 0.15049915f, 0.549292028f, -0.351213664f, 0.450282902f,
          0.195812732f, 0.0987327695f}},
        1e-5);
  }
  SECTION("betas, eps and weight decay") {
    check_steps(
        [](Problem& p) {
          return std::make_unique<Adam>(
              std::vector{p.W, p.b},
              AdamOptions{
                  .lr = 0.05, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1});
        },
        {{0.149999991f, -0.150000006f, 0.25000003f, 0.449999988f, -0.449999988f, 0.550000012f,
          0.0999999866f, -4.47034836e-08f},
         {0.199631155f, -0.100168154f, 0.200234309f, 0.4996683f, -0.40049988f, 0.500140131f,
          0.14860265f, 0.0494590886f},
         {0.248591498f, -0.0506278686f, 0.150880396f, 0.548735023f, -0.351934671f, 0.450522393f,
          0.194104835f, 0.0979057699f}},
        1e-5);
  }
}

TEST_CASE("parameter groups keep their own lr and options", "[optim][groups]") {
  // torch: SGD([{params: [W], lr: 0.01}, {params: [b], lr: 0.1, momentum: 0.5}], momentum=0.9)
  check_steps(
      [](Problem& p) {
        return std::make_unique<SGD>(
            std::vector<SGDParamGroup>{{{p.W}, SGDOptions{.lr = 0.01, .momentum = 0.9}, "weights"},
                                       {{p.b}, SGDOptions{.lr = 0.1, .momentum = 0.5}, "biases"}});
      },
      {{0.144749999f, -0.119000003f, 0.23225002f, 0.423000008f, -0.429250002f, 0.494500011f,
        0.370000005f, 0.059999954f},
       {0.22011812f, 0.0258499905f, 0.112348154f, 0.464926243f, -0.323338121f, 0.301017493f,
        0.535825014f, 0.186399952f},
       {0.313940674f, 0.213328943f, -0.0435747504f, 0.519824564f, -0.210146666f, 0.0455851778f,
        0.401291609f, 0.311192155f}});

  Problem p;
  SGD opt({{{p.W}, SGDOptions{.lr = 0.01}, "weights"}, {{p.b}, SGDOptions{.lr = 0.1}, ""}});
  CHECK(opt.num_groups() == 2);
  CHECK(opt.group(0).name == "weights");
  CHECK(opt.group(1).name == "group1");
  opt.set_lr_factor(0.5);
  CHECK(opt.lr(0) == Approx(0.005));
  CHECK(opt.lr(1) == Approx(0.05));
  opt.set_lr(1, 0.3);
  CHECK(opt.lr(1) == 0.3);
  CHECK(opt.lr(0) == Approx(0.005));
  CHECK(opt.options(1).lr == 0.3);
  CHECK_THROWS_WITH(opt.set_lr(2, 0.1), Catch::Contains("group 2 is out of range for 2"));
  CHECK_THROWS_WITH(opt.set_lr(0, -1.0), Catch::Contains("lr -1"));
}

TEST_CASE("parameters without a gradient are left alone", "[optim]") {
  Problem p;
  SGD opt({p.W, p.b}, SGDOptions{.lr = 0.1, .momentum = 0.9});
  p.backward();
  p.b.zero_grad();
  const std::vector<float> b_before = p.b.data().to_vector<float>();
  opt.step();
  CHECK(p.b.data().to_vector<float>() == b_before);
  CHECK(opt.state_dict().contains("state.0.momentum_buffer"));
  CHECK_FALSE(opt.state_dict().contains("state.1.momentum_buffer"));
  opt.zero_grad();
  CHECK_FALSE(p.W.grad().defined());
}

TEST_CASE("clip_grad_norm matches torch.nn.utils.clip_grad_norm_", "[optim][clip]") {
  Problem p;
  p.backward();
  const double total = clip_grad_norm({p.W, p.b}, 1.0);
  CHECK(total == Approx(17.5964317).epsilon(1e-6));
  check_close(p.W.grad().to_vector<float>(),
              {-0.2543129026889801f, -0.4603205919265747f, 0.3850211799144745f,
               -0.13070832192897797f, -0.4020701050758362f, 0.5995534062385559f},
              1e-6);
  check_close(p.b.grad().to_vector<float>(), {-0.18185503780841827f, -0.06251264363527298f}, 1e-6);
  // Already within the bound: untouched, and the norm is now ~1.
  const std::vector<float> g = p.W.grad().to_vector<float>();
  CHECK(clip_grad_norm({p.W, p.b}, 5.0) == Approx(1.0).epsilon(1e-5));
  CHECK(p.W.grad().to_vector<float>() == g);
  // Infinity norm: the largest magnitude.
  CHECK(clip_grad_norm({p.W, p.b}, 10.0, INFINITY) == Approx(0.5995534).epsilon(1e-6));
  CHECK_THROWS_WITH(clip_grad_norm({p.W}, 0.0), Catch::Contains("max_norm is 0"));
  CHECK_THROWS_WITH(clip_grad_norm({p.W}, 1.0, 1.0), Catch::Contains("norm_type is 1"));
}

TEST_CASE("optimizer state_dict resumes with identical steps", "[optim][state]") {
  auto run = [](bool adam, int first, int second, bool reload) {
    Problem p;
    auto make = [&]() -> std::unique_ptr<Optimizer> {
      if (adam) return std::make_unique<Adam>(std::vector{p.W, p.b}, AdamOptions{.lr = 0.05});
      return std::make_unique<SGD>(std::vector{p.W, p.b},
                                   SGDOptions{.lr = 0.01, .momentum = 0.9, .nesterov = true});
    };
    auto opt = make();
    for (int i = 0; i < first; ++i) {
      p.backward();
      opt->step();
    }
    if (reload) {
      const StateDict saved = opt->state_dict();
      opt = make();  // a fresh optimizer, as after a restart
      opt->load_state_dict(saved);
    }
    for (int i = 0; i < second; ++i) {
      p.backward();
      opt->step();
    }
    return p.values();
  };
  for (bool adam : {false, true}) {
    INFO("adam = " << adam);
    const std::vector<float> straight = run(adam, 5, 0, false);
    CHECK(run(adam, 2, 3, true) == straight);  // bit-identical
    CHECK(run(adam, 2, 3, false) == straight);
  }

  Problem p;
  Adam adam({p.W, p.b}, AdamOptions{.lr = 0.05});
  p.backward();
  adam.step();
  adam.set_lr(0.0123);
  const StateDict sd = adam.state_dict();
  CHECK(sd.keys() ==
        std::vector<std::string>{"group.0.lr", "group.0.initial_lr", "group.0.weight_decay",
                                 "state.0.exp_avg", "state.0.exp_avg_sq", "state.0.step",
                                 "state.1.exp_avg", "state.1.exp_avg_sq", "state.1.step"});
  CHECK(sd.at("state.1.step").item() == 1.0);
  Adam other({p.W, p.b}, AdamOptions{.lr = 0.05});
  other.load_state_dict(sd);
  CHECK(other.lr() == 0.0123);  // exact, through the double's bits
  CHECK(other.step_count(0) == 1);
}

TEST_CASE("optimizer state_dict reports bad input", "[optim][state][errors]") {
  Problem p;
  SGD sgd({p.W, p.b}, SGDOptions{.lr = 0.01, .momentum = 0.9});
  p.backward();
  sgd.step();
  const std::vector<float> before =
      sgd.state_dict().at("state.0.momentum_buffer").to_vector<float>();
  Adam adam({p.W, p.b}, AdamOptions{});
  CHECK_THROWS_WITH(adam.load_state_dict(sgd.state_dict()),
                    Catch::Contains("unexpected keys 'state.0.momentum_buffer'"));

  StateDict wrong_shape = sgd.state_dict();
  wrong_shape.set("state.0.momentum_buffer", zeros({2, 3}));
  CHECK_THROWS_WITH(sgd.load_state_dict(wrong_shape),
                    Catch::Contains("'state.0.momentum_buffer' has shape [2, 3], expected [3, 2]"));

  StateDict no_group = sgd.state_dict();
  no_group.erase("group.0.lr");
  CHECK_THROWS_WITH(sgd.load_state_dict(no_group), Catch::Contains("missing key 'group.0.lr'"));

  // A failed load leaves the optimizer as it was (the bad buffer was checked, not copied).
  CHECK(sgd.state_dict().at("state.0.momentum_buffer").to_vector<float>() == before);
  CHECK(sgd.lr() == 0.01);

  Problem q;
  SGD two_groups({{{q.W}, SGDOptions{}, ""}, {{q.b}, SGDOptions{}, ""}});
  CHECK_THROWS_WITH(two_groups.load_state_dict(sgd.state_dict()),
                    Catch::Contains("missing key 'group.1.lr'"));
}

TEST_CASE("optimizer options are validated", "[optim][errors]") {
  Problem p;
  CHECK_THROWS_WITH(SGD({p.W}, SGDOptions{.lr = -0.1}), Catch::Contains("lr -0.1"));
  CHECK_THROWS_WITH(SGD({p.W}, SGDOptions{.lr = 0.1, .nesterov = true}),
                    Catch::Contains("Nesterov momentum needs momentum > 0"));
  CHECK_THROWS_WITH(SGD({p.W}, SGDOptions{.weight_decay = -1}), Catch::Contains("weight_decay -1"));
  CHECK_THROWS_WITH(SGD({p.W, p.W}, SGDOptions{}), Catch::Contains("appears more than once"));
  CHECK_THROWS_WITH(SGD(std::vector<Variable>{}, SGDOptions{}),
                    Catch::Contains("empty parameter list"));
  CHECK_THROWS_WITH(Adam({p.W}, AdamOptions{.beta2 = 1.0}),
                    Catch::Contains("betas (0.9, 1) must both be in [0, 1)"));
  Variable non_leaf = p.W * 2.0;
  CHECK_THROWS_WITH(SGD({non_leaf}, SGDOptions{}), Catch::Contains("not a leaf"));
}

TEST_CASE("cosine schedule with warm-up and plateau", "[schedule]") {
  ScheduleConfig c;
  c.lr = 0.4;
  c.total_epochs = 100;
  c.warmup_epochs = 5;
  c.warmup_start_factor = 1e-4;
  auto s = make_schedule("cosine", c);
  CHECK(std::string(s->name()) == "cosine");
  CHECK(s->lr_at(0.0) == Approx(0.4e-4));
  CHECK(s->lr_at(2.5) == Approx(0.4 * (1e-4 + (1 - 1e-4) * 0.5)));
  CHECK(s->lr_at(5.0) == Approx(0.4));                  // warm-up end = cosine start
  CHECK(s->lr_at(52.5) == Approx(0.2));                 // cosine midpoint
  CHECK(s->lr_at(100.0) == Approx(0.0).margin(1e-12));  // the end
  CHECK(s->lr_at(2, 1, 4) == Approx(s->lr_at(2.25)));   // per-iteration fractional epoch
  CHECK(s->factor_at(52.5) == Approx(0.5));

  c.min_lr = 0.01;
  c.plateau_epoch = 45;
  auto plateau = make_schedule("cosine", c);
  CHECK(plateau->lr_at(25.0) == Approx(0.01 + 0.39 * 0.5));  // midpoint of 5..45
  CHECK(plateau->lr_at(45.0) == Approx(0.01));
  CHECK(plateau->lr_at(80.0) == Approx(0.01));    // held at the floor
  CHECK(plateau->lr_at(1000.0) == Approx(0.01));  // clamped past the end

  c.warmup_epochs = 0;
  c.plateau_epoch = -1;
  c.min_lr = 0;
  CHECK(make_schedule("cosine", c)->lr_at(0.0) == Approx(0.4));  // no warm-up
}

TEST_CASE("step schedule", "[schedule]") {
  ScheduleConfig c;
  c.lr = 0.1;
  c.total_epochs = 200;
  c.milestones = {100, 150};
  c.gamma = 0.1;
  auto s = make_schedule("step", c);
  CHECK(s->lr_at(0.0) == Approx(0.1));
  CHECK(s->lr_at(99, 389, 390) == Approx(0.1));
  CHECK(s->lr_at(100, 0, 390) == Approx(0.01));
  CHECK(s->lr_at(149.5) == Approx(0.01));
  CHECK(s->lr_at(150.0) == Approx(0.001));
  CHECK(s->lr_at(199.9) == Approx(0.001));
}

TEST_CASE("triangle schedule", "[schedule]") {
  ScheduleConfig c;
  c.lr = 0.5;
  c.min_lr = 0.1;
  c.total_epochs = 40;
  c.peak_epoch = 10;
  auto s = make_schedule("triangle", c);
  CHECK(s->lr_at(0.0) == Approx(0.1));
  CHECK(s->lr_at(5.0) == Approx(0.3));
  CHECK(s->lr_at(10.0) == Approx(0.5));  // the peak
  CHECK(s->lr_at(25.0) == Approx(0.3));
  CHECK(s->lr_at(40.0) == Approx(0.1));

  c.cycle_epochs = 20;
  c.peak_epoch = -1;  // middle of each cycle
  auto cyc = make_schedule("triangle", c);
  CHECK(cyc->lr_at(10.0) == Approx(0.5));
  CHECK(cyc->lr_at(20.0) == Approx(0.1));
  CHECK(cyc->lr_at(25.0) == Approx(0.3));
  CHECK(cyc->lr_at(30.0) == Approx(0.5));
}

TEST_CASE("a schedule drives every group by its factor", "[schedule][optim]") {
  Problem p;
  SGD opt({{{p.W}, SGDOptions{.lr = 0.1}, ""}, {{p.b}, SGDOptions{.lr = 0.01}, ""}});
  ScheduleConfig c;
  c.lr = 0.1;
  c.total_epochs = 10;
  auto s = make_schedule("cosine", c);
  s->apply(opt, 5, 0, 100);  // cosine midpoint
  CHECK(opt.lr(0) == Approx(0.05));
  CHECK(opt.lr(1) == Approx(0.005));
  auto constant = make_schedule("constant", c);
  constant->apply(opt, 7, 3, 100);
  CHECK(opt.lr(0) == Approx(0.1));
  CHECK(opt.lr(1) == Approx(0.01));
}

TEST_CASE("schedules report bad arguments", "[schedule][errors]") {
  ScheduleConfig c;
  c.total_epochs = 10;
  CHECK_THROWS_WITH(make_schedule("linear", c),
                    Catch::Contains("unknown schedule 'linear'") &&
                        Catch::Contains("constant, cosine, step, triangle"));
  c.lr = -0.1;
  CHECK_THROWS_WITH(make_schedule("cosine", c), Catch::Contains("lr is -0.1"));
  c.lr = 0.1;
  c.total_epochs = 0;
  CHECK_THROWS_WITH(make_schedule("step", c), Catch::Contains("total_epochs is 0"));
  c.total_epochs = 10;
  c.warmup_epochs = 10;
  CHECK_THROWS_WITH(make_schedule("cosine", c), Catch::Contains("warmup_epochs is 10"));
  c.warmup_epochs = 0;
  c.milestones = {5, 3};
  CHECK_THROWS_WITH(make_schedule("step", c), Catch::Contains("milestones must increase"));
  c.milestones = {};
  c.gamma = 0;
  CHECK_THROWS_WITH(make_schedule("step", c), Catch::Contains("gamma is 0"));
  c.peak_epoch = 10;
  CHECK_THROWS_WITH(make_schedule("triangle", c), Catch::Contains("peak_epoch is 10"));
  c.min_lr = 0.5;
  CHECK_THROWS_WITH(make_schedule("constant", c), Catch::Contains("min_lr is 0.5"));
  c.min_lr = 0;
  auto s = make_schedule("constant", c);
  CHECK_THROWS_WITH(s->lr_at(1, 5, 5), Catch::Contains("iteration 5 is out of range for 5"));
  CHECK_THROWS_WITH(s->lr_at(1, 0, 0), Catch::Contains("iters_per_epoch is 0"));
}

TEST_CASE("fused and per-op updates agree on large parameters", "[optim]") {
  // Large enough for the fused loop's threaded path.
  Generator gen(3);
  const Tensor w0 = normal({200, 250}, 0, 1, &gen);
  const Tensor g0 = normal({200, 250}, 0, 1, &gen);
  auto run = [&](bool adam, bool fused) {
    Variable w(w0.clone(), true, "w");
    std::unique_ptr<Optimizer> opt;
    if (adam) {
      opt = std::make_unique<Adam>(std::vector{w}, AdamOptions{.lr = 0.01, .weight_decay = 0.01});
    } else {
      opt = std::make_unique<SGD>(
          std::vector{w},
          SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4, .nesterov = true});
    }
    opt->set_fused(fused);
    for (int s = 0; s < 3; ++s) {
      w.set_grad(ops::mul(g0, 1.0 + s));
      opt->step();
    }
    return w.data().to_vector<float>();
  };
  for (bool adam : {false, true}) {
    INFO("adam = " << adam);
    const std::vector<float> a = run(adam, true), b = run(adam, false);
    REQUIRE(a.size() == b.size());
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
    CHECK(worst < 1e-6);
  }
}
