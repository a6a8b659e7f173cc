//! The folded encoder's convolutions on one CPU thread without libtorch: a direct convolution with AVX-512F
//! over channels-last activations, with the weights packed once when the model is prepared.
//!
//! Why not libtorch: on one thread, libtorch runs these convs through oneDNN's channels-last kernels, which are
//! fast, but around them it reorders every weight tensor into oneDNN's blocked layout on every call (≈ 0.6 ms of
//! a ≈ 5 ms forward pass for the paper's model, 256×128×5×5 alone ≈ 0.45 ms), converts the first block's output
//! from oneDNN's blocked layout to NCHW and then to NHWC, and applies the ReLU as a pass of its own. Its
//! prepacked-weight route (`mkldnn_reorder_conv2d_weight` + `mkldnn_convolution`) does not help: a oneDNN
//! weight switches libtorch to the blocked NCHW kernels, which still reorder the weight per call and are slower.
//!
//! The layout here: activations are `[batch][rows + 2p][cols + 2p][channels]` with a zero border of p = k/2
//! (time is the row, frequency the column), so the kernel needs no bounds checks; each conv writes straight into
//! the interior of the next one's padded input, bias and ReLU applied as it stores. Channel counts are rounded
//! up to a multiple of 16 (one AVX-512 register); the extra channels have zero weights and bias, so they hold
//! ReLU(0) = 0 and add nothing to the next conv. Weights are packed per group of up to 64 output channels as
//! `[kh][kw][input channel][64]`: the inner loop loads a group's 64 weights for one input value (4 registers)
//! and multiplies them by that value at up to 6 output pixels of a row (24 accumulators), so each weight load
//! feeds 6 multiply-adds and each input value 4. Where a row has 6 pixels or fewer (the last blocks: 5 bins of
//! 80 after four stride-2 convs) groups are 32 channels wide and a tile takes two rows, up to 12 pixels, so that
//! a weight load still feeds 10-12 multiply-adds: the weights of those blocks come from L2, and with 5 per load
//! the last block ran at ≈ 160 GFLOP/s instead of ≈ 220. Measured on one Zen 5 thread (peak ≈ 238 GFLOP/s):
//! the paper model's four convs at ≈ 200, 230, 230 and 220 GFLOP/s, ≈ 3.4 ms together.
//!
//! The sums run in another order than oneDNN's, so results differ from libtorch's by float rounding only.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::cell::RefCell;

/// Lanes of an AVX-512 register of f32.
const LANES: usize = 16;
/// Output channels per weight group: 4 registers, or 2 where a row has too few pixels to fill a wide tile
/// (`PackedConv::new`).
const GROUP: usize = 64;
const NARROW_GROUP: usize = 32;
/// Most output pixels per tile with 3-4 registers of weights (24 accumulators), and with 1-2.
const WIDE_TILE: usize = 6;
const NARROW_TILE: usize = 12;

/// Whether this CPU can run the kernel.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// One conv + bias + ReLU: square kernel `k`, stride `stride`, padding k/2, weights packed for the kernel.
#[derive(Debug)]
pub(crate) struct PackedConv {
    k: usize,
    stride: usize,
    /// Channels of the input buffer (the previous conv's padded width; 1 for the spectrogram).
    cin: usize,
    /// Channels of the output buffer (a multiple of 16).
    cout: usize,
    /// Groups of output channels: (first channel, width), widths multiples of 16 up to 64.
    groups: Vec<(usize, usize)>,
    /// Per group `[kh][kw][cin][width]`, groups one after another.
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedConv {
    /// `weight`: (out, in, k, k) row-major with in ≤ `cin`; `bias`: (out,). Input channels past `in` (the
    /// previous conv's padding channels) get zero weights. `out_cols`: the output's columns (bins), which sets
    /// the tiles: rows of at most `WIDE_TILE` pixels go two rows per tile with 2-register groups, so that each
    /// weight load still feeds up to 12 pixels.
    pub(crate) fn new(weight: &[f32], bias: &[f32], in_channels: usize, cin: usize, k: usize, stride: usize, out_cols: usize) -> Self {
        let out = bias.len();
        debug_assert_eq!(weight.len(), out * in_channels * k * k);
        let cout = round_up(out, LANES);
        let group = if out_cols <= WIDE_TILE { NARROW_GROUP } else { GROUP };
        let groups: Vec<(usize, usize)> = (0..cout).step_by(group).map(|g0| (g0, group.min(cout - g0))).collect();
        let mut packed = Vec::with_capacity(cout * cin * k * k);
        for &(g0, width) in &groups {
            for kh in 0..k {
                for kw in 0..k {
                    for ci in 0..cin {
                        for o in g0..g0 + width {
                            let real = o < out && ci < in_channels;
                            packed.push(if real { weight[((o * in_channels + ci) * k + kh) * k + kw] } else { 0.0 });
                        }
                    }
                }
            }
        }
        let mut b = bias.to_vec();
        b.resize(cout, 0.0);
        PackedConv { k, stride, cin, cout, groups, weight: packed, bias: b }
    }

    pub(crate) fn out_channels(&self) -> usize {
        self.cout
    }

    fn out_size(&self, n: usize) -> usize {
        (n + 2 * (self.k / 2) - self.k) / self.stride + 1
    }
}

/// A channels-last activation buffer with a zero border of `pad` pixels around each image.
#[derive(Debug, Default)]
struct Padded {
    data: Vec<f32>,
    /// (batch, rows, cols, channels, pad) the zeros were laid out for.
    shape: (usize, usize, usize, usize, usize),
}

impl Padded {
    /// Sized for the shape, border zero. A buffer reused with the same shape keeps its zero border (the convs
    /// write interiors only), so only a new shape zeroes it.
    fn prepare(&mut self, shape: (usize, usize, usize, usize, usize)) {
        if self.shape != shape {
            let (b, h, w, c, p) = shape;
            self.data.clear();
            self.data.resize(b * (h + 2 * p) * (w + 2 * p) * c, 0.0);
            self.shape = shape;
        }
    }

    fn index(&self, b: usize, row: usize, col: usize) -> usize {
        let (_, h, w, c, p) = self.shape;
        ((b * (h + 2 * p) + row + p) * (w + 2 * p) + col + p) * c
    }
}

thread_local! {
    /// Per thread: the padded input of each conv and the last conv's output (≈ 3 MB for the paper's model),
    /// reused between calls: allocating them per prediction would cost a memset and fresh pages every time,
    /// and a buffer reused with the same shape needs neither (`Padded::prepare`).
    static WORKSPACE: RefCell<Vec<Padded>> = const { RefCell::new(Vec::new()) };
}

/// The folded encoder's convs, applied in turn, then the mean over frequency.
#[derive(Debug)]
pub(crate) struct DirectEncoder {
    convs: Vec<PackedConv>,
    /// Real channels of the last conv (its buffer may have more).
    channels: usize,
}

impl DirectEncoder {
    /// None where the CPU lacks AVX-512F (the kernel's `Tile::run` relies on this check).
    pub(crate) fn new(convs: Vec<PackedConv>, channels: usize) -> Option<Self> {
        (available() && !convs.is_empty()).then_some(DirectEncoder { convs, channels })
    }

    /// `x`: (batch, frames, bins) row-major. Returns the last conv's output averaged over frequency,
    /// (batch, frames', channels) row-major, and frames'. One image at a time through every conv: the workspace
    /// stays one image's size (≈ 3 MB for the paper's model) whatever the batch, and warm in the caches.
    pub(crate) fn forward(&self, x: &[f32], batch: usize, frames: usize, bins: usize) -> (Vec<f32>, usize) {
        // The caller sends empty inputs to libtorch; sizes below rely on at least one frame and bin.
        assert!(frames > 0 && bins > 0 && x.len() == batch * frames * bins, "direct conv input of {} values for {batch}×{frames}×{bins}", x.len());
        let rows = self.convs.iter().fold(frames, |h, conv| conv.out_size(h));
        let c = self.channels;
        let mut seq = vec![0.0f32; batch * rows * c];
        WORKSPACE.with(|ws| {
            let mut ws = ws.borrow_mut();
            let n = self.convs.len();
            if ws.len() < n + 1 {
                ws.resize_with(n + 1, Padded::default);
            }
            for b in 0..batch {
                // The spectrogram into the first conv's padded input (one channel).
                let (mut h, mut w) = (frames, bins);
                let first = &self.convs[0];
                ws[0].prepare((1, h, w, first.cin, first.k / 2));
                for t in 0..h {
                    let at = ws[0].index(0, t, 0);
                    ws[0].data[at..at + w].copy_from_slice(&x[(b * frames + t) * bins..][..bins]);
                }
                for (i, conv) in self.convs.iter().enumerate() {
                    let (ho, wo) = (conv.out_size(h), conv.out_size(w));
                    // The next conv's padded input, or an unpadded output after the last.
                    let pad = self.convs.get(i + 1).map_or(0, |next| next.k / 2);
                    let (done, rest) = ws.split_at_mut(i + 1);
                    let out = &mut rest[0];
                    out.prepare((1, ho, wo, conv.cout, pad));
                    run_conv(conv, &done[i], out, h, w, ho, wo);
                    (h, w) = (ho, wo);
                }
                // Mean over the frequency columns of the real channels.
                let last = &ws[n];
                let scale = 1.0 / w as f32;
                for t in 0..h {
                    let row = &mut seq[(b * h + t) * c..][..c];
                    for f in 0..w {
                        let at = last.index(0, t, f);
                        for (s, v) in row.iter_mut().zip(&last.data[at..at + c]) {
                            *s += v;
                        }
                    }
                    row.iter_mut().for_each(|s| *s *= scale);
                }
            }
        });
        (seq, rows)
    }
}

/// One conv over every image of `input` (interior h × w) into the interior of `out` (ho × wo).
fn run_conv(conv: &PackedConv, input: &Padded, out: &mut Padded, h: usize, w: usize, ho: usize, wo: usize) {
    let (batch, ih, iw, cin, ip) = input.shape;
    let (ob, oh, ow, oc, _) = out.shape;
    // What the kernel's unchecked reads and writes rely on (checked once per conv, not per pixel).
    assert!(ih == h && iw == w && cin == conv.cin && ip == conv.k / 2, "conv input buffer shape");
    assert!(ob == batch && oh == ho && ow == wo && oc == conv.cout, "conv output buffer shape");
    assert!((ho - 1) * conv.stride + conv.k <= h + 2 * ip && (wo - 1) * conv.stride + conv.k <= w + 2 * ip, "conv window");
    assert!(input.data.len() == input.index(batch - 1, h - 1 + ip, w - 1 + ip) + cin, "input buffer size");
    assert!(out.data.len() >= out.index(batch - 1, ho - 1, wo - 1) + oc && conv.weight.len() == conv.cout * cin * conv.k * conv.k, "buffer sizes");
    let x_row = (w + 2 * ip) * cin;
    let out_row = out.index(0, 1, 0) - out.index(0, 0, 0);
    let mut w_offset = 0;
    for &(g0, width) in &conv.groups {
        let nb = width / LANES;
        let narrow = nb <= 2;
        // Two rows per tile where one row fits a narrow tile twice over.
        let rows = if narrow && 2 * wo <= NARROW_TILE { 2 } else { 1 };
        let most = if narrow { NARROW_TILE / rows } else { WIDE_TILE };
        // Output columns in near-equal runs of at most `most` pixels.
        let runs = wo.div_ceil(most);
        for b in 0..batch {
            for t in (0..ho).step_by(rows) {
                let rows = rows.min(ho - t);
                let mut col = 0;
                for r in 0..runs {
                    let len = wo / runs + usize::from(r < wo % runs);
                    // Input pixel (t·s, col·s) of the padded image: the window's top-left corner.
                    let x_at = ((b * (h + 2 * ip) + t * conv.stride) * (w + 2 * ip) + col * conv.stride) * cin;
                    let out_at = out.index(b, t, col) + g0;
                    let tile = Tile {
                        x: input.data[x_at..].as_ptr(),
                        x_row,
                        x_step: conv.stride * cin,
                        cin,
                        k: conv.k,
                        w: conv.weight[w_offset..].as_ptr(),
                        bias: conv.bias[g0..].as_ptr(),
                        out: out.data[out_at..].as_mut_ptr(),
                        out_step: oc,
                        x_rows: conv.stride * x_row,
                        out_rows: out_row,
                    };
                    tile.run(nb, rows, len);
                    col += len;
                }
            }
        }
        w_offset += conv.k * conv.k * cin * width;
    }
}

/// `len` output pixels of one row, one weight group: the kernel's raw view of the buffers.
struct Tile {
    /// The first pixel's window corner in the padded input.
    x: *const f32,
    /// Floats per padded input row.
    x_row: usize,
    /// Floats between the windows of neighbouring output pixels.
    x_step: usize,
    cin: usize,
    k: usize,
    /// The group's packed weights `[kh][kw][cin][width]`.
    w: *const f32,
    bias: *const f32,
    /// The first output pixel's first channel of the group.
    out: *mut f32,
    /// Floats between neighbouring output pixels.
    out_step: usize,
    /// Floats between the windows of the tile's two output rows, and between the rows' outputs.
    x_rows: usize,
    out_rows: usize,
}

impl Tile {
    /// `rows` (1 or 2, 2 only with `nb` ≤ 2) × `len` output pixels, `nb` registers of output channels.
    fn run(&self, nb: usize, rows: usize, len: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `DirectEncoder` exists only where `available()` said AVX-512F is there, and `run_conv`
            // checked that every window and output pixel of the conv lies inside its buffers.
            unsafe {
                match (nb, rows) {
                    (1, 2) => two_rows::<1>(self, len),
                    (2, 2) => two_rows::<2>(self, len),
                    (1, _) => narrow::<1>(self, len),
                    (2, _) => narrow::<2>(self, len),
                    (3, _) => wide::<3>(self, len),
                    _ => wide::<4>(self, len),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("the direct conv is built only where AVX-512F is available ({nb}, {rows}, {len})")
    }
}

/// Two rows of up to 6 pixels (≤ 2 registers of weights).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn two_rows<const NB: usize>(t: &Tile, len: usize) {
    unsafe {
        match len {
            1 => tile::<2, NB, true>(t),
            2 => tile::<4, NB, true>(t),
            3 => tile::<6, NB, true>(t),
            4 => tile::<8, NB, true>(t),
            5 => tile::<10, NB, true>(t),
            _ => tile::<12, NB, true>(t),
        }
    }
}

/// Up to 12 pixels (≤ 2 registers of weights: 24 accumulators at most).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn narrow<const NB: usize>(t: &Tile, len: usize) {
    unsafe {
        match len {
            1 => tile::<1, NB, false>(t),
            2 => tile::<2, NB, false>(t),
            3 => tile::<3, NB, false>(t),
            4 => tile::<4, NB, false>(t),
            5 => tile::<5, NB, false>(t),
            6 => tile::<6, NB, false>(t),
            7 => tile::<7, NB, false>(t),
            8 => tile::<8, NB, false>(t),
            9 => tile::<9, NB, false>(t),
            10 => tile::<10, NB, false>(t),
            11 => tile::<11, NB, false>(t),
            _ => tile::<12, NB, false>(t),
        }
    }
}

/// Up to 6 pixels (3 or 4 registers of weights).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn wide<const NB: usize>(t: &Tile, len: usize) {
    unsafe {
        match len {
            1 => tile::<1, NB, false>(t),
            2 => tile::<2, NB, false>(t),
            3 => tile::<3, NB, false>(t),
            4 => tile::<4, NB, false>(t),
            5 => tile::<5, NB, false>(t),
            _ => tile::<6, NB, false>(t),
        }
    }
}

/// R output pixels × NB registers of output channels, accumulated in registers over the whole window: one row
/// of R pixels, or with TWO two rows of R/2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile<const R: usize, const NB: usize, const TWO: bool>(t: &Tile) {
    unsafe {
        let cols = if TWO { R / 2 } else { R };
        // Offsets of pixel r's window and output (constants once the loops over r unroll).
        let x_off = |r: usize| (r / cols) * t.x_rows + (r % cols) * t.x_step;
        let out_off = |r: usize| (r / cols) * t.out_rows + (r % cols) * t.out_step;
        let mut acc = [[_mm512_setzero_ps(); NB]; R];
        for j in 0..NB {
            let b = _mm512_loadu_ps(t.bias.add(j * LANES));
            for a in acc.iter_mut() {
                a[j] = b;
            }
        }
        let mut wp = t.w;
        for kh in 0..t.k {
            let row = t.x.add(kh * t.x_row);
            for kw in 0..t.k {
                let xp = row.add(kw * t.cin);
                for c in 0..t.cin {
                    let mut wv = [_mm512_setzero_ps(); NB];
                    for (j, v) in wv.iter_mut().enumerate() {
                        *v = _mm512_loadu_ps(wp.add(j * LANES));
                    }
                    wp = wp.add(NB * LANES);
                    for (r, a) in acc.iter_mut().enumerate() {
                        let xv = _mm512_set1_ps(*xp.add(x_off(r) + c));
                        for j in 0..NB {
                            a[j] = _mm512_fmadd_ps(xv, wv[j], a[j]);
                        }
                    }
                }
            }
        }
        let zero = _mm512_setzero_ps();
        for (r, a) in acc.iter().enumerate() {
            for (j, v) in a.iter().enumerate() {
                _mm512_storeu_ps(t.out.add(out_off(r) + j * LANES), _mm512_max_ps(*v, zero));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (values in [-1, 1)).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// conv (padding k/2) + bias + ReLU in f64, NCHW, one image: the definition the kernel must meet.
    fn reference(x: &[f32], (c, h, w): (usize, usize, usize), weight: &[f32], bias: &[f32], k: usize, s: usize) -> (Vec<f64>, usize, usize) {
        let (p, o) = (k / 2, bias.len());
        let (ho, wo) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        let mut y = vec![0.0; o * ho * wo];
        for oc in 0..o {
            for t in 0..ho {
                for f in 0..wo {
                    let mut acc = bias[oc] as f64;
                    for ic in 0..c {
                        for kh in 0..k {
                            for kw in 0..k {
                                let (r, q) = ((t * s + kh) as isize - p as isize, (f * s + kw) as isize - p as isize);
                                if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                                    acc += weight[((oc * c + ic) * k + kh) * k + kw] as f64 * x[(ic * h + r as usize) * w + q as usize] as f64;
                                }
                            }
                        }
                    }
                    y[(oc * ho + t) * wo + f] = acc.max(0.0);
                }
            }
        }
        (y, ho, wo)
    }

    /// Two convs through `DirectEncoder` against the reference, then the mean over columns: kernel sizes,
    /// strides, channel counts that leave a zero-padded register or a narrow last group, rows of ≤ 6 pixels
    /// (two-row tiles) and of more, batch > 1.
    #[test]
    fn direct_convs_equal_the_definition() {
        if !available() {
            assert!(DirectEncoder::new(Vec::new(), 1).is_none());
            return;
        }
        // (k, stride, channels of the two convs, frames, bins, batch)
        let cases =
            [(5, 2, [32, 70], 23, 30, 2), (3, 1, [5, 17], 9, 6, 1), (7, 3, [100, 16], 31, 40, 1), (1, 2, [48, 130], 8, 11, 3), (5, 2, [64, 256], 20, 12, 1)];
        for (case, &(k, s, [c1, c2], frames, bins, batch)) in cases.iter().enumerate() {
            let seed = case as u64 * 10;
            let (w1, b1) = (values(c1 * k * k, seed + 1), values(c1, seed + 2));
            let (w2, b2) = (values(c2 * c1 * k * k, seed + 3), values(c2, seed + 4));
            let x = values(batch * frames * bins, seed + 5);
            let cols1 = (bins + 2 * (k / 2) - k) / s + 1;
            let cols2 = (cols1 + 2 * (k / 2) - k) / s + 1;
            let first = PackedConv::new(&w1, &b1, 1, 1, k, s, cols1);
            let second = PackedConv::new(&w2, &b2, c1, first.out_channels(), k, s, cols2);
            let encoder = DirectEncoder::new(vec![first, second], c2).unwrap();
            let (got, rows) = encoder.forward(&x, batch, frames, bins);
            for b in 0..batch {
                let image = &x[b * frames * bins..][..frames * bins];
                let (y1, h1, w1o) = reference(image, (1, frames, bins), &w1, &b1, k, s);
                let y1: Vec<f32> = y1.iter().map(|&v| v as f32).collect();
                let (y2, h2, w2o) = reference(&y1, (c1, h1, w1o), &w2, &b2, k, s);
                assert_eq!((rows, w2o), (h2, cols2), "case {case}: output size");
                for t in 0..h2 {
                    for oc in 0..c2 {
                        let want = (0..w2o).map(|f| y2[(oc * h2 + t) * w2o + f]).sum::<f64>() / w2o as f64;
                        let g = got[(b * rows + t) * c2 + oc] as f64;
                        assert!((g - want).abs() <= 1e-4 * (1.0 + want.abs()), "case {case}, image {b}, row {t}, channel {oc}: {g} vs {want}");
                    }
                }
            }
        }
    }
}
