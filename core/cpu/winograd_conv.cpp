#include "core/cpu/winograd_conv.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/cpu/direct_gemm.h"

namespace lnx::cpu {
namespace {

constexpr int64_t kXi = 16;  // positions of a transformed 4x4 tile

// Transformed input per chunk (16 x C x tiles floats, 1 MB): about what it and the products
// can keep of L2 between the transforms and the products (whole 32x32 images of 64 channels
// per chunk, 1 MB of input and 1 MB of products, ran the transforms at half the speed).
constexpr int64_t kChunkFloats = 256 * 1024;

// But at least this many tiles per chunk: with fewer, the products read their weight operand
// (C x O floats per position) from L2 for too few columns.
constexpr int64_t kMinChunkTiles = 96;

__mmask16 first_lanes(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xFFFF)
                     : static_cast<__mmask16>((1u << std::max<int64_t>(count, 0)) - 1u);
}

// u (16, C, ldu) = G g G^T for every kernel g = w[o][c] (3x3), with
// G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. Rows are ldu > O floats apart: at a power-of-two
// stride the kernel's broadcasts down a column of u hit a handful of L1 sets and miss.
void transform_weight(const float* w, int64_t o_count, int64_t c_count, int64_t ldu, float* u) {
  const int64_t plane = c_count * ldu;
  // Blocks of 16 input channels: each output channel's 16 kernels are one contiguous read
  // of w, and the writes fill 16 x 16 rows of u in step. Over all of w per input channel (w of
  // 256 x 256 channels is larger than L2) the reads came from L3.
  constexpr int64_t kBlock = 16;
#pragma omp parallel for schedule(static) if (o_count * c_count >= 4096)
  for (int64_t c0 = 0; c0 < c_count; c0 += kBlock)
    for (int64_t o = 0; o < o_count; ++o)
      for (int64_t c = c0; c < std::min(c_count, c0 + kBlock); ++c) {
        const float* g = w + (o * c_count + c) * 9;  // (3, 3)
        float t[4][3];                               // G g
        for (int j = 0; j < 3; ++j) {
          t[0][j] = g[j];
          t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
          t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
          t[3][j] = g[6 + j];
        }
        float* dst = u + c * ldu + o;
        for (int i = 0; i < 4; ++i) {
          dst[(4 * i + 0) * plane] = t[i][0];
          dst[(4 * i + 1) * plane] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
          dst[(4 * i + 2) * plane] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
          dst[(4 * i + 3) * plane] = t[i][2];
        }
      }
}

// v = B^T d B for tiles [0, tiles) of a chunk: tile t is tile (ty, tx) of image i where
// R = r0 + t / TW = i * TH + ty and tx = t % TW, and starts at padded pixel (2 ty, 2 tx) of the
// zero-padded image x (N, C, H, W). B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
// v is (16, blocks, C, 16): per position xi, the tiles in blocks of 16 whose channel rows are
// consecutive, so the product kernel reads its operand for 16 tiles as one sequential stream
// (direct_gemm_rows with rows of 16); a plain (C, tiles) matrix had rows a power of two apart
// that fought over the same L1 sets. Each lane gathers its own tile's patch, so a vector holds 16
// tiles whatever the map's width (a row of an 8x8 map has only 4).
void transform_input(const float* x, const Geom& g, int64_t th, int64_t tw, int64_t r0,
                     int64_t tiles, int64_t blocks, float* v) {
  const int64_t i0 = r0 / th, block_floats = g.c * 16, xi_floats = blocks * block_floats;
  const float* base = x + i0 * g.c * g.hw;  // offsets count from the chunk's first image
  for (int64_t blk = 0; blk < blocks; ++blk) {
    // Where lane l finds patch pixel (r, c) of its tile in channel 0, and whether it lies in
    // the image (outside it, the padding reads as zero). A chunk spans a few images, so the
    // offsets fit the gather's int32 (winograd_suits bounds an image's floats).
    alignas(64) int32_t off[16][16];
    __mmask16 inside[16] = {};
    for (int l = 0; l < 16; ++l) {
      const int64_t t = blk * 16 + l;
      const int64_t row_index = r0 + t / tw, tx = t % tw;
      const int64_t i = row_index / th - i0, ty = row_index % th;
      for (int p = 0; p < 16; ++p) {
        const int64_t row = 2 * ty + p / 4 - g.p.pad_h, col = 2 * tx + p % 4 - g.p.pad_w;
        const bool in = t < tiles && row >= 0 && row < g.h && col >= 0 && col < g.w;
        off[p][l] = in ? static_cast<int32_t>(i * g.c * g.hw + row * g.w + col) : 0;
        if (in) inside[p] = static_cast<__mmask16>(inside[p] | (1u << l));
      }
    }
    __m512i idx[16];
    for (int p = 0; p < 16; ++p) idx[p] = _mm512_load_si512(off[p]);
    float* vb = v + blk * block_floats;
    for (int64_t c = 0; c < g.c; ++c) {
      const float* xc = base + c * g.hw;
      __m512 d[16];  // patch pixel (r, c) at 4 r + c
      for (int p = 0; p < 16; ++p)
        d[p] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), inside[p], idx[p], xc, 4);
      __m512 t[16];  // B^T d
      for (int j = 0; j < 4; ++j) {
        t[j] = _mm512_sub_ps(d[j], d[8 + j]);
        t[4 + j] = _mm512_add_ps(d[4 + j], d[8 + j]);
        t[8 + j] = _mm512_sub_ps(d[8 + j], d[4 + j]);
        t[12 + j] = _mm512_sub_ps(d[4 + j], d[12 + j]);
      }
      float* out = vb + c * 16;
      for (int k = 0; k < 4; ++k) {
        const __m512* tk = t + 4 * k;
        _mm512_storeu_ps(out + (4 * k + 0) * xi_floats, _mm512_sub_ps(tk[0], tk[2]));
        _mm512_storeu_ps(out + (4 * k + 1) * xi_floats, _mm512_add_ps(tk[1], tk[2]));
        _mm512_storeu_ps(out + (4 * k + 2) * xi_floats, _mm512_sub_ps(tk[2], tk[1]));
        _mm512_storeu_ps(out + (4 * k + 3) * xi_floats, _mm512_sub_ps(tk[1], tk[3]));
      }
    }
  }
}

// y = A^T M A (+ bias) for the tiles of a chunk (tile rows r0 .. r1 of the batch, see
// transform_input) from m (16, O, ldm), into y (N, O, OH, OW). A^T = [1 1 1 0; 0 1 -1 -1].
void transform_output(const float* m, const Geom& g, int64_t th, int64_t tw, int64_t r0, int64_t r1,
                      int64_t ldm, const float* bias, float* y) {
  // Output row pixels 2 tx and 2 tx + 1 come from the two lanes tx of a pair of vectors.
  const __m512i lo_idx = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi_idx =
      _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  const int64_t ow = g.ow, plane = g.o * ldm;
  for (int64_t o = 0; o < g.o; ++o) {
    const __m512 b = _mm512_set1_ps(bias ? bias[o] : 0.0f);
    for (int64_t row_index = r0; row_index < r1; ++row_index) {
      const int64_t i = row_index / th, ty = row_index % th;
      float* yo = y + (i * g.o + o) * g.ohw;  // (OH, OW)
      for (int64_t x0 = 0; x0 < tw; x0 += 16) {
        const int64_t n = std::min<int64_t>(16, tw - x0);
        const __mmask16 mk = first_lanes(n);
        const float* src = m + o * ldm + (row_index - r0) * tw + x0;
        __m512 s[2][4];  // (A^T M) rows
        for (int j = 0; j < 4; ++j) {
          const __m512 m0 = _mm512_maskz_loadu_ps(mk, src + j * plane);
          const __m512 m1 = _mm512_maskz_loadu_ps(mk, src + (4 + j) * plane);
          const __m512 m2 = _mm512_maskz_loadu_ps(mk, src + (8 + j) * plane);
          const __m512 m3 = _mm512_maskz_loadu_ps(mk, src + (12 + j) * plane);
          s[0][j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
          s[1][j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
        }
        for (int a = 0; a < 2; ++a) {
          const __m512 left =
              _mm512_add_ps(_mm512_add_ps(s[a][0], s[a][1]), _mm512_add_ps(s[a][2], b));
          const __m512 right =
              _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s[a][1], s[a][2]), s[a][3]), b);
          float* row = yo + (2 * ty + a) * ow + 2 * x0;
          _mm512_mask_storeu_ps(row, first_lanes(2 * n),
                                _mm512_permutex2var_ps(left, lo_idx, right));
          _mm512_mask_storeu_ps(row + 16, first_lanes(2 * n - 16),
                                _mm512_permutex2var_ps(left, hi_idx, right));
        }
      }
    }
  }
}

}  // namespace

bool winograd_suits(const Geom& g) {
  const Conv2dParams& p = g.p;
  return g.groups == 1 && g.kh == 3 && g.kw == 3 && p.stride_h == 1 && p.stride_w == 1 &&
         p.dilation_h == 1 && p.dilation_w == 1 && g.oh % 2 == 0 && g.ow % 2 == 0 && g.ow >= 4 &&
         g.c >= 64 && g.o >= 64 && g.c * g.hw < (int64_t{1} << 28);  // int32 gather offsets
}

void winograd_forward(const float* x, const Geom& g, const float* w, const float* bias, float* y) {
  const int64_t th = g.oh / 2, tw = g.ow / 2;
  // The caller's thread keeps the transformed weight from call to call: no allocation per step.
  const int64_t ldu = g.o + 16;
  thread_local std::vector<float> u_buffer;
  u_buffer.resize(static_cast<size_t>(kXi * g.c * ldu));
  float* u = u_buffer.data();  // (16, C, ldu)
  transform_weight(w, g.o, g.c, ldu, u);
  std::vector<int64_t> koff(static_cast<size_t>(g.c));  // channel rows within a block of tiles
  for (int64_t c = 0; c < g.c; ++c) koff[static_cast<size_t>(c)] = 16 * c;

  // Chunks of whole tile rows of the batch, about kChunkFloats of transformed input each.
  const int64_t rows = g.n * th;
  const int64_t per = std::clamp<int64_t>(
      std::max(kChunkFloats / (kXi * g.c), kMinChunkTiles + tw - 1) / tw, 1, rows);
  const int64_t chunks = (rows + per - 1) / per;
  auto run = [&](int64_t chunk) {
    const int64_t r0 = chunk * per, r1 = std::min(rows, r0 + per), tiles = (r1 - r0) * tw;
    const int64_t blocks = (tiles + 15) / 16, ldm = 16 * blocks + 16;     // ldm: not a power of two
    float* v = scratch(static_cast<size_t>(kXi * blocks * g.c * 16), 3);  // (16, blocks, C, 16)
    transform_input(x, g, th, tw, r0, tiles, blocks, v);
    float* m = scratch(static_cast<size_t>(kXi * g.o * ldm), 4);  // (16, O, ldm)
    for (int64_t xi = 0; xi < kXi; ++xi)
      direct_gemm_rows(v + xi * blocks * g.c * 16, g.c * 16, 16, koff.data(), tiles,
                       u + xi * g.c * ldu, ldu, 1, g.o, g.c, nullptr, m + xi * g.o * ldm, ldm);
    transform_output(m, g, th, tw, r0, r1, ldm, bias, y);
  };
  if (conv_threads(g) > 1 && chunks > 1) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t k = 0; k < chunks; ++k) run(k);
  } else {
    for (int64_t k = 0; k < chunks; ++k) run(k);
  }
}

}  // namespace lnx::cpu
#endif
