//! A GRU layer with ONNX's semantics (`GRU` with `linear_before_reset = 1`, the default sigmoid/tanh
//! activations, no clipping, every sequence full length), written for the small shapes GTCRN runs: hidden 8 or 16,
//! input 8 or 16, batches of 1 to a few hundred, sequences of 33 to a few thousand steps.
//!
//! ONNX Runtime's own GRU spends most of its time outside arithmetic on these shapes (a whole-utterance GTCRN
//! spends over half its run in its 10 GRU nodes). This one runs the recurrence for `L` batch entries at once
//! (one SIMD register per value: L = 8 with AVX2, 16 with AVX-512), one chunk of the batch after another through
//! the whole sequence, so every value the step needs stays in registers or L1; single sequences (GTCRN's
//! attention GRUs) run with the lanes across the gate units instead ([`Plan`]). Sigmoid and tanh come from an
//! exp written here ([`exp`]) because `f32::exp` is a library call that stops the loop from being vectorised.
//!
//! GTCRN's export merges each grouped GRU pair (its DPGRNN blocks) into one GRU whose W and R are block-diagonal:
//! half their values are zeros. [`GruWeights::new`] finds, per unit, the span of columns its gate rows read, and
//! the chunk plan sums over those spans only, in the same order, so the results are those of the dense sums
//! (adding a·0 changes nothing) for any finite input.
//!
//! Equations (ONNX operator docs, gate order z, r, h in W, R and B):
//!   z = σ(W_z x + Wb_z + R_z h + Rb_z)
//!   r = σ(W_r x + Wb_r + R_r h + Rb_r)
//!   n = tanh(W_h x + Wb_h + r ⊙ (R_h h + Rb_h))
//!   h' = (1 − z) ⊙ n + z ⊙ h
//! The results equal ONNX Runtime's within float rounding (`tests/fast_gru.rs`), not bit for bit: sums run in
//! another order and the exp is not the runtime's.

/// Which way each direction runs through the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
    Bidirectional,
}

impl Direction {
    /// ONNX's `direction` attribute.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "forward" => Some(Direction::Forward),
            "reverse" => Some(Direction::Reverse),
            "bidirectional" => Some(Direction::Bidirectional),
            _ => None,
        }
    }

    pub fn count(self) -> usize {
        if self == Direction::Bidirectional { 2 } else { 1 }
    }

    /// Whether direction `d` (0 or 1) runs from the last step to the first.
    fn backwards(self, d: usize) -> bool {
        self == Direction::Reverse || (self == Direction::Bidirectional && d == 1)
    }
}

/// A layer's weights, checked and laid out for the recurrence.
#[derive(Debug, Clone)]
pub struct GruWeights {
    pub direction: Direction,
    pub hidden: usize,
    pub input: usize,
    /// ONNX's W, [dirs][3H][I] — already one row per gate unit, the order the recurrence reads.
    w: Vec<f32>,
    /// ONNX's R, [dirs][3H][H].
    r: Vec<f32>,
    /// Per direction, 4H values: the z and r biases (Wb + Rb, which add in the same place), then Wb_h and Rb_h
    /// (kept apart: Rb_h sits inside r ⊙ (…)).
    bias: Vec<f32>,
    /// Per direction and unit j, the columns [lo, hi) of W outside which j's three gate rows (z, r, h) hold
    /// only zeros, and the same for R. GTCRN's export merges each grouped GRU pair into one GRU with
    /// block-diagonal W and R (half their values are zeros); [`Plan::Chunks`] skips the zero columns.
    w_span: Vec<Span>,
    r_span: Vec<Span>,
    /// W and R transposed per direction, [dirs][I][3H] and [dirs][H][3H], so that each input value (or hidden
    /// value) scales one contiguous row of gate weights ([`Plan::Sequences`]). Laid out here, once per layer.
    w_t: Vec<f32>,
    r_t: Vec<f32>,
}

/// A half-open range of columns, [lo, hi).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    lo: usize,
    hi: usize,
}

/// Per direction and unit, the span of columns where `m` ([dirs][3H][cols]) has a non-zero in any of the unit's
/// three gate rows (empty, lo = hi = 0, where all are zero). Skipping a weight that is exactly zero leaves every
/// sum as it was (a·0 adds nothing, whatever the order), as long as the value it would scale is finite: an
/// infinite or NaN input reaches only the units whose weights read it, where the dense sum would spread the NaN
/// to every unit.
fn spans(m: &[f32], dirs: usize, hidden: usize, cols: usize) -> Vec<Span> {
    let mut out = Vec::with_capacity(dirs * hidden);
    for d in 0..dirs {
        for j in 0..hidden {
            let (mut lo, mut hi) = (cols, 0);
            for gate in 0..3 {
                let row = &m[((d * 3 + gate) * hidden + j) * cols..][..cols];
                if let Some(first) = row.iter().position(|&v| v != 0.0) {
                    lo = lo.min(first);
                    hi = hi.max(cols - row.iter().rev().position(|&v| v != 0.0).unwrap_or(0));
                }
            }
            out.push(if lo < hi { Span { lo, hi } } else { Span { lo: 0, hi: 0 } });
        }
    }
    out
}

/// `m` [dirs][rows][cols] as [dirs][cols][rows].
fn transposed(m: &[f32], dirs: usize, rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; m.len()];
    for d in 0..dirs {
        for i in 0..rows {
            for k in 0..cols {
                out[(d * cols + k) * rows + i] = m[(d * rows + i) * cols + k];
            }
        }
    }
    out
}

impl GruWeights {
    /// `w` [dirs, 3H, I], `r` [dirs, 3H, H], `b` [dirs, 6H] (absent = zeros), all flat as ONNX stores them. Err
    /// says which length is wrong.
    pub fn new(direction: Direction, hidden: usize, input: usize, w: &[f32], r: &[f32], b: Option<&[f32]>) -> Result<Self, String> {
        let dirs = direction.count();
        let h3 = 3 * hidden;
        if hidden == 0 || input == 0 {
            return Err(format!("hidden size {hidden} and input size {input} must both be positive"));
        }
        let check = |name: &str, got: usize, want: usize, shape: String| {
            if got == want { Ok(()) } else { Err(format!("{name} holds {got} values; [{shape}] needs {want}")) }
        };
        check("W", w.len(), dirs * h3 * input, format!("{dirs}, {h3}, {input}"))?;
        check("R", r.len(), dirs * h3 * hidden, format!("{dirs}, {h3}, {hidden}"))?;
        if let Some(b) = b {
            check("B", b.len(), dirs * 2 * h3, format!("{dirs}, {}", 2 * h3))?;
        }
        let mut bias = vec![0.0f32; dirs * 4 * hidden];
        if let Some(b) = b {
            for d in 0..dirs {
                let (wb, rb) = b[d * 2 * h3..(d + 1) * 2 * h3].split_at(h3);
                let out = &mut bias[d * 4 * hidden..(d + 1) * 4 * hidden];
                for j in 0..2 * hidden {
                    out[j] = wb[j] + rb[j];
                }
                out[2 * hidden..3 * hidden].copy_from_slice(&wb[2 * hidden..]);
                out[3 * hidden..].copy_from_slice(&rb[2 * hidden..]);
            }
        }
        Ok(GruWeights {
            direction,
            hidden,
            input,
            w_span: spans(w, dirs, hidden, input),
            r_span: spans(r, dirs, hidden, hidden),
            w_t: transposed(w, dirs, h3, input),
            r_t: transposed(r, dirs, h3, hidden),
            w: w.to_vec(),
            r: r.to_vec(),
            bias,
        })
    }
}

/// The instruction set a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust, 8 lanes, no fused multiply-add: any CPU.
    Portable,
    /// AVX2 + FMA, 8 lanes.
    Avx2,
    /// AVX-512F, 16 lanes.
    Avx512,
}

impl Isa {
    /// The best this CPU has.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Every instruction set this CPU can run (for tests).
    pub fn available() -> Vec<Isa> {
        // Each level's features include the one below it (AVX-512F CPUs all have AVX2 and FMA).
        let best = Isa::detect();
        [Isa::Portable, Isa::Avx2, Isa::Avx512].into_iter().filter(|&i| i <= best).collect()
    }
}

/// One run's tensors: `x` holding [seq, batch, I] and `y` holding [seq, dirs, batch, H] in any axis order (the
/// strides say where; [`GruIo::new`] gives ONNX's layouts), `initial_h` and `y_h` [dirs, batch, H]. `initial_h`
/// absent = zeros; `y` and `y_h` optional as in ONNX.
pub struct GruIo<'a> {
    pub seq: usize,
    pub batch: usize,
    pub x: &'a [f32],
    /// Element strides of X's seq, batch and feature axes.
    pub x_strides: [usize; 3],
    pub initial_h: Option<&'a [f32]>,
    pub y: Option<&'a mut [f32]>,
    /// Element strides of Y's seq, direction, batch and hidden axes.
    pub y_strides: [usize; 4],
    pub y_h: Option<&'a mut [f32]>,
    /// `initial_h` and `y_h` hold batch entries `h_first..h_first + batch` of `h_batch` (a part of the batch run
    /// on its own: [`run_with`]'s tail).
    h_batch: usize,
    h_first: usize,
}

impl<'a> GruIo<'a> {
    /// ONNX's layouts: X [seq, batch, I], Y [seq, dirs, batch, H].
    pub fn new(
        weights: &GruWeights,
        seq: usize,
        batch: usize,
        x: &'a [f32],
        initial_h: Option<&'a [f32]>,
        y: Option<&'a mut [f32]>,
        y_h: Option<&'a mut [f32]>,
    ) -> Self {
        let (inp, dirs, hid) = (weights.input, weights.direction.count(), weights.hidden);
        let x_strides = [batch * inp, inp, 1];
        let y_strides = [dirs * batch * hid, batch * hid, hid, 1];
        GruIo { seq, batch, x, x_strides, initial_h, y, y_strides, y_h, h_batch: batch, h_first: 0 }
    }
}

/// Row-major strides, per logical axis, of a tensor whose logical axes `dims` are stored in the order `perm`
/// (stored axis k is logical axis perm[k], as a Transpose with that perm would lay them out). Err if `perm` is not
/// a permutation of the axes.
pub fn permuted_strides<const N: usize>(dims: [usize; N], perm: &[i64]) -> Result<[usize; N], String> {
    let mut seen = [false; N];
    if perm.len() != N || !perm.iter().all(|&p| (0..N as i64).contains(&p) && !std::mem::replace(&mut seen[p as usize], true)) {
        return Err(format!("{perm:?} is not a permutation of {N} axes"));
    }
    let mut strides = [0; N];
    let mut stride = 1;
    for &p in perm.iter().rev() {
        strides[p as usize] = stride;
        stride *= dims[p as usize];
    }
    Ok(strides)
}

impl GruIo<'_> {
    /// Err names the tensor whose length (or layout) does not fit the shapes.
    pub fn check(&self, weights: &GruWeights) -> Result<(), String> {
        let (dirs, h) = (weights.direction.count(), weights.hidden);
        let want = [
            ("X", Some(self.x.len()), self.seq * self.batch * weights.input),
            ("initial_h", self.initial_h.map(<[f32]>::len), dirs * self.batch * h),
            ("Y", self.y.as_deref().map(<[f32]>::len), self.seq * dirs * self.batch * h),
            ("Y_h", self.y_h.as_deref().map(<[f32]>::len), dirs * self.batch * h),
        ];
        for (name, got, want) in want {
            if let Some(got) = got
                && got != want
            {
                return Err(format!(
                    "{name} holds {got} values where {want} were expected (seq {}, batch {}, {dirs} direction(s), hidden {h})",
                    self.seq, self.batch
                ));
            }
        }
        // The last element each layout addresses must lie inside its buffer.
        let last = |dims: &[usize], strides: &[usize]| dims.iter().zip(strides).map(|(&d, &s)| d.saturating_sub(1) * s).sum::<usize>();
        let empty = self.seq == 0 || self.batch == 0;
        if !empty && last(&[self.seq, self.batch, weights.input], &self.x_strides) >= self.x.len() {
            return Err(format!("X's strides {:?} reach past its {} values", self.x_strides, self.x.len()));
        }
        if let Some(y) = self.y.as_deref()
            && !empty
            && last(&[self.seq, dirs, self.batch, h], &self.y_strides) >= y.len()
        {
            return Err(format!("Y's strides {:?} reach past its {} values", self.y_strides, y.len()));
        }
        Ok(())
    }
}

/// How the work is spread over SIMD lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// [`Plan::Sequences`] for batches below [`SEQUENCES_BELOW`] when the hidden size has a specialised kernel,
    /// else [`Plan::Chunks`].
    Auto,
    /// Lanes across the batch: `L` batch entries step through the sequence together (GTCRN's intra- and
    /// inter-frame GRUs). Skips the weights' zero spans. With AVX2 or AVX-512 and a specialised hidden size, a
    /// last chunk that would leave most of its lanes idle runs as [`Plan::Sequences`].
    Chunks,
    /// Lanes across the gate units, one batch entry after another; the input projection for every step is done
    /// first, off the recurrence's critical path (small batches and long sequences: GTCRN's attention GRUs).
    /// Hidden sizes 8 and 16 only.
    Sequences,
}

/// Below this batch size [`Plan::Auto`] runs sequence by sequence. Measured on GTCRN's shapes (Zen 5, one
/// thread, AVX-512): batch 1 × 313 steps ~8× faster than chunks; batch 33 × 313 (hidden 16) ~1.5× slower with
/// dense weights and ~1.8× slower with GTCRN's block-diagonal ones (the chunks skip the zeros, and the one
/// sequence past two full chunks runs on its own); batch 313 × 33 (hidden 8, bidirectional) ~2.4× slower.
const SEQUENCES_BELOW: usize = 16;

/// Runs the layer with the best instruction set this CPU has.
pub fn run(weights: &GruWeights, io: GruIo<'_>) -> Result<(), String> {
    run_with(Isa::detect(), Plan::Auto, weights, io)
}

/// Runs the layer with a given instruction set and plan; Err if the shapes do not fit, this CPU lacks `isa`, or
/// the plan has no kernel for this hidden size.
pub fn run_with(isa: Isa, plan: Plan, weights: &GruWeights, mut io: GruIo<'_>) -> Result<(), String> {
    io.check(weights)?;
    if !Isa::available().contains(&isa) {
        return Err(format!("this CPU cannot run {isa:?}"));
    }
    let specialised = matches!(weights.hidden, 8 | 16);
    let plan = match plan {
        Plan::Auto if specialised && io.batch < SEQUENCES_BELOW => Plan::Sequences,
        Plan::Auto => Plan::Chunks,
        Plan::Sequences if !specialised => return Err(format!("no sequence kernel for hidden size {}", weights.hidden)),
        other => other,
    };
    if plan == Plan::Chunks && specialised && isa != Isa::Portable {
        // A last chunk with few of its lanes used costs as much as a full one: those batch entries run sequence
        // by sequence instead (GTCRN's inter-frame GRU: batch 33 = 2 chunks of 16 and 1 sequence).
        let lanes = lanes_for(isa, io.batch);
        let tail = io.batch % lanes;
        if io.batch > lanes && 3 * tail <= lanes {
            let head = io.batch - tail;
            let [_, xb, _] = io.x_strides;
            let [_, _, yb, _] = io.y_strides;
            dispatch(isa, Plan::Chunks, weights, &mut GruIo { batch: head, y: io.y.as_deref_mut(), y_h: io.y_h.as_deref_mut(), ..io });
            let mut rest = GruIo {
                batch: tail,
                x: &io.x[head * xb..],
                y: io.y.as_deref_mut().map(|y| &mut y[head * yb..]),
                y_h: io.y_h.as_deref_mut(),
                h_first: io.h_first + head,
                ..io
            };
            dispatch(isa, Plan::Sequences, weights, &mut rest);
            return Ok(());
        }
    }
    dispatch(isa, plan, weights, &mut io);
    Ok(())
}

/// Runs a checked `io` with a resolved plan (not Auto; Sequences only for hidden sizes 8 and 16).
fn dispatch(isa: Isa, plan: Plan, weights: &GruWeights, io: &mut GruIo<'_>) {
    if plan == Plan::Sequences {
        match (isa, weights.hidden) {
            (Isa::Portable, 8) => sequences::<8, 24, false>(weights, io),
            (Isa::Portable, _) => sequences::<16, 48, false>(weights, io),
            // SAFETY: `available` checked that the CPU has these features.
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, 8) => unsafe { sequences_avx2::<8, 24>(weights, io) },
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, _) => unsafe { sequences_avx2::<16, 48>(weights, io) },
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, 8) => unsafe { sequences_avx512::<8, 24>(weights, io) },
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, _) => unsafe { sequences_avx512::<16, 48>(weights, io) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("available() lists only Portable here"),
        }
        return;
    }
    let lanes = lanes_for(isa, io.batch);
    match (isa, lanes) {
        (Isa::Portable, _) => layer::<8, false, false>(weights, io),
        // SAFETY: `available` checked that the CPU has these features.
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2 | Isa::Avx512, 8) => unsafe { layer_avx2::<8>(weights, io) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2, _) => unsafe { layer_avx2::<16>(weights, io) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512, 16) => unsafe { layer_avx512::<16>(weights, io) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512, _) => unsafe { layer_avx512::<32>(weights, io) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("available() lists only Portable here"),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sequences_avx2<const H: usize, const G: usize>(weights: &GruWeights, io: &mut GruIo<'_>) {
    sequences::<H, G, true>(weights, io)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn sequences_avx512<const H: usize, const G: usize>(weights: &GruWeights, io: &mut GruIo<'_>) {
    sequences::<H, G, true>(weights, io)
}

/// [`Plan::Sequences`]: hidden size `H`, `G` = 3H gate rows (two constants because array lengths cannot be
/// computed from generics). Sequences go `N` at a time when the batch has that many: one sequence's step is a
/// chain of dependent operations (R·h, then the gates, then h), and interleaving independent chains fills the
/// pipeline.
#[inline(always)]
fn sequences<const H: usize, const G: usize, const FUSED: bool>(wt: &GruWeights, io: &mut GruIo<'_>) {
    if io.batch >= INTERLEAVE { sequence_groups::<H, G, INTERLEAVE, FUSED>(wt, io) } else { sequence_groups::<H, G, 1, FUSED>(wt, io) }
}

thread_local! {
    /// Scratch that this thread's runs pass on to each other ([`take_scratch`]).
    static SCRATCH: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// At least `len` floats of scratch (contents unspecified), taken from what this thread's last run gave back with
/// [`give_scratch`], so that a session's runs neither allocate nor fault in fresh pages each time. (Not a closure
/// over the work: a closure would not inherit the caller's `target_feature`s and would lose the SIMD code.)
fn take_scratch(len: usize) -> Vec<f32> {
    let mut buf = SCRATCH.take();
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    buf
}

/// Keeps `buf` for this thread's next run unless it is larger than [`SCRATCH_KEPT`].
fn give_scratch(buf: Vec<f32>) {
    if buf.len() <= SCRATCH_KEPT {
        SCRATCH.set(buf);
    }
}

/// The most floats of scratch a thread keeps between runs (4 MiB: a GTCRN inter-frame GRU over ~2 min of audio).
const SCRATCH_KEPT: usize = 1 << 20;

/// How many sequences [`Plan::Sequences`] interleaves.
const INTERLEAVE: usize = 2;

#[inline(always)]
fn sequence_groups<const H: usize, const G: usize, const N: usize, const FUSED: bool>(wt: &GruWeights, io: &mut GruIo<'_>) {
    debug_assert!(G == 3 * H && wt.hidden == H);
    let (dirs, seq) = (wt.direction.count(), io.seq);
    // W·x + bias for every step of the group's sequences, in this thread's scratch.
    let mut scratch = take_scratch(seq * N * G);
    let gx = scratch[..seq * N * G].as_chunks_mut::<G>().0.as_chunks_mut::<N>().0;
    for d in 0..dirs {
        sequence_direction::<H, G, N, FUSED>(wt, io, d, gx);
    }
    give_scratch(scratch);
}

/// One direction of [`sequence_groups`]; `gx` holds `seq` steps.
#[inline(always)]
fn sequence_direction<const H: usize, const G: usize, const N: usize, const FUSED: bool>(
    wt: &GruWeights,
    io: &mut GruIo<'_>,
    d: usize,
    gx: &mut [[[f32; G]; N]],
) {
    let (inp, seq, batch) = (wt.input, io.seq, io.batch);
    // Transposed at construction ([`GruWeights::w_t`]): each input value (or hidden value) scales one
    // contiguous row of G gate weights. R's rows go on the stack, where their size is known.
    let w_t = wt.w_t[d * G * inp..][..G * inp].as_chunks::<G>().0;
    let mut r_t = [[0.0f32; G]; H];
    for (k, row) in r_t.iter_mut().enumerate() {
        row.copy_from_slice(&wt.r_t[(d * H + k) * G..][..G]);
    }
    let bias = &wt.bias[d * 4 * H..][..4 * H];
    let mut bias_x = [0.0f32; G];
    bias_x.copy_from_slice(&bias[..G]);
    let mut bias_h = [0.0f32; G];
    bias_h[2 * H..].copy_from_slice(&bias[3 * H..]);
    let [xt, xb, xk] = io.x_strides;
    let [yt, yd, yb, yj] = io.y_strides;
    for b0 in (0..batch).step_by(N) {
        // The last group may be short: its missing sequences repeat the group's first (work thrown away).
        let count = N.min(batch - b0);
        let member = |n: usize| b0 + if n < count { n } else { 0 };
        for (t, acc) in gx.iter_mut().enumerate() {
            for (n, out) in acc.iter_mut().enumerate() {
                let x = &io.x[t * xt + member(n) * xb..];
                let mut sum = bias_x;
                for (k, row) in w_t.iter().enumerate() {
                    let xv = x[k * xk];
                    for g in 0..G {
                        sum[g] = madd::<FUSED>(row[g], xv, sum[g]);
                    }
                }
                *out = sum;
            }
        }
        let mut h = [[0.0f32; H]; N];
        if let Some(h0) = io.initial_h {
            for (n, hn) in h.iter_mut().enumerate() {
                hn.copy_from_slice(&h0[(d * io.h_batch + io.h_first + member(n)) * H..][..H]);
            }
        }
        for i in 0..seq {
            let t = if wt.direction.backwards(d) { seq - 1 - i } else { i };
            let mut gh = [bias_h; N];
            for (k, row) in r_t.iter().enumerate() {
                for n in 0..N {
                    let hk = h[n][k];
                    for g in 0..G {
                        gh[n][g] = madd::<FUSED>(row[g], hk, gh[n][g]);
                    }
                }
            }
            for n in 0..N {
                let (gxt, ghn, hn) = (&gx[t][n], &gh[n], &mut h[n]);
                for j in 0..H {
                    let z = sigmoid_with::<FUSED>(gxt[j] + ghn[j]);
                    let rg = sigmoid_with::<FUSED>(gxt[H + j] + ghn[H + j]);
                    let c = tanh_with::<FUSED>(madd::<FUSED>(rg, ghn[2 * H + j], gxt[2 * H + j]));
                    hn[j] = (1.0 - z) * c + z * hn[j];
                }
            }
            if let Some(y) = io.y.as_deref_mut() {
                for (n, hn) in h.iter().enumerate().take(count) {
                    let base = t * yt + d * yd + (b0 + n) * yb;
                    for (j, &v) in hn.iter().enumerate() {
                        y[base + j * yj] = v;
                    }
                }
            }
        }
        if let Some(y_h) = io.y_h.as_deref_mut() {
            for (n, hn) in h.iter().enumerate().take(count) {
                y_h[(d * io.h_batch + io.h_first + b0 + n) * H..][..H].copy_from_slice(hn);
            }
        }
    }
}

/// How many batch entries one pass through the sequence carries. More lanes than one register holds give each
/// sum two or more independent chains (the step is bound by FMA latency, not throughput), but lanes past the batch
/// are wasted work: take the widest whose padding costs at most a quarter more than the narrowest's.
fn lanes_for(isa: Isa, batch: usize) -> usize {
    let choices: &[usize] = match isa {
        Isa::Portable => &[8],
        Isa::Avx2 => &[8, 16],
        Isa::Avx512 => &[8, 16, 32],
    };
    let padded = |l: usize| batch.div_ceil(l) * l;
    let least = padded(choices[0]);
    choices.iter().copied().filter(|&l| 4 * padded(l) <= 5 * least).max().unwrap_or(8)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn layer_avx2<const L: usize>(weights: &GruWeights, io: &mut GruIo<'_>) {
    layer::<L, true, false>(weights, io)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn layer_avx512<const L: usize>(weights: &GruWeights, io: &mut GruIo<'_>) {
    layer::<L, true, true>(weights, io)
}

/// A 16 × 16 transpose in registers (64 shuffles): lane k of row i comes back as lane i of row k.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn transpose16(r: [std::arch::x86_64::__m512; 16]) -> [std::arch::x86_64::__m512; 16] {
    use std::arch::x86_64::*;
    // Pairs of rows interleaved, then quads, within each 128-bit lane: u[4i + c] holds, in lane q, column 4q + c
    // of rows 4i..4i + 4.
    let t: [__m512; 16] = std::array::from_fn(|i| if i % 2 == 0 { _mm512_unpacklo_ps(r[i], r[i + 1]) } else { _mm512_unpackhi_ps(r[i - 1], r[i]) });
    let u: [__m512; 16] = std::array::from_fn(|i| {
        let (g, c) = (i / 4 * 4, i % 4);
        let (a, b) = (_mm512_castps_pd(t[g + c / 2]), _mm512_castps_pd(t[g + 2 + c / 2]));
        _mm512_castpd_ps(if c % 2 == 0 { _mm512_unpacklo_pd(a, b) } else { _mm512_unpackhi_pd(a, b) })
    });
    let mut out = [_mm512_setzero_ps(); 16];
    for c in 0..4 {
        // 128-bit lanes 0 and 2 (0x88) or 1 and 3 (0xdd) of each operand, twice over: column 4q + c of all rows.
        let (v0, v1) = (_mm512_shuffle_f32x4::<0x88>(u[c], u[4 + c]), _mm512_shuffle_f32x4::<0xdd>(u[c], u[4 + c]));
        let (w0, w1) = (_mm512_shuffle_f32x4::<0x88>(u[8 + c], u[12 + c]), _mm512_shuffle_f32x4::<0xdd>(u[8 + c], u[12 + c]));
        out[c] = _mm512_shuffle_f32x4::<0x88>(v0, w0);
        out[4 + c] = _mm512_shuffle_f32x4::<0x88>(v1, w1);
        out[8 + c] = _mm512_shuffle_f32x4::<0xdd>(v0, w0);
        out[12 + c] = _mm512_shuffle_f32x4::<0xdd>(v1, w1);
    }
    out
}

/// The chunk plan's input gather for 16 lanes, by 16 × 16 transposes: lane l's features are `src[l·stride..]`
/// (`cols` of them, contiguous); feature k goes to `dst[k·dst_stride..][..16]`. Done one float at a time, this
/// gather took a third of an AVX-512 run on GTCRN's intra-frame GRU. Panics if a row reaches past its slice.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn gather16(src: &[f32], stride: usize, cols: usize, dst: &mut [f32], dst_stride: usize) {
    use std::arch::x86_64::*;
    if cols == 0 {
        return;
    }
    assert!(15 * stride + cols <= src.len() && (cols - 1) * dst_stride + 16 <= dst.len(), "gather16: a row reaches past its slice");
    for k0 in (0..cols).step_by(16) {
        let n = (cols - k0).min(16);
        let mask = (1u32 << n).wrapping_sub(1) as u16;
        // SAFETY: the assert keeps the n floats from l·stride + k0 inside `src` (masked-off lanes are not read),
        // and the 16 floats from k·dst_stride inside `dst` for every k < cols.
        let rows = std::array::from_fn(|l| unsafe { _mm512_maskz_loadu_ps(mask, src.as_ptr().add(l * stride + k0)) });
        for (k, row) in transpose16(rows).into_iter().enumerate().take(n) {
            unsafe { _mm512_storeu_ps(dst.as_mut_ptr().add((k0 + k) * dst_stride), row) };
        }
    }
}

/// The inverse of [`gather16`] for the chunk plan's output: value j of 16 lanes (`src[j·src_stride..][..16]`, j
/// < `cols`) goes to `dst[l·stride + j]` for lane l. Panics if a row reaches past its slice.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn scatter16(src: &[f32], src_stride: usize, cols: usize, dst: &mut [f32], stride: usize) {
    use std::arch::x86_64::*;
    if cols == 0 {
        return;
    }
    assert!((cols - 1) * src_stride + 16 <= src.len() && 15 * stride + cols <= dst.len(), "scatter16: a row reaches past its slice");
    for j0 in (0..cols).step_by(16) {
        let n = (cols - j0).min(16);
        let mask = (1u32 << n).wrapping_sub(1) as u16;
        // SAFETY: the assert keeps the 16 floats from j·src_stride inside `src` for j < cols, and the n floats from
        // l·stride + j0 inside `dst` (masked-off lanes are not written).
        let rows = std::array::from_fn(|j| if j < n { unsafe { _mm512_loadu_ps(src.as_ptr().add((j0 + j) * src_stride)) } } else { _mm512_setzero_ps() });
        for (l, row) in transpose16(rows).into_iter().enumerate() {
            unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr().add(l * stride + j0), mask, row) };
        }
    }
}

/// Every direction, chunk by chunk of `L` batch entries. Inlined into the `target_feature` wrappers so that the
/// lane loops compile to that instruction set.
#[inline(always)]
fn layer<const L: usize, const FUSED: bool, const AVX512: bool>(wt: &GruWeights, io: &mut GruIo<'_>) {
    let (hid, inp, dirs) = (wt.hidden, wt.input, wt.direction.count());
    let (seq, batch) = (io.seq, io.batch);
    // Scratch, one [f32; L] per value: this step's inputs, the hidden state and the next one.
    let mut xs = vec![[0.0f32; L]; inp];
    let mut h = vec![[0.0f32; L]; hid];
    let mut next = vec![[0.0f32; L]; hid];
    let mut sums = vec![[0.0f32; L]; 4 * hid];
    let [xt, xb, xk] = io.x_strides;
    let [yt, yd, yb, yj] = io.y_strides;
    for d in 0..dirs {
        let w = &wt.w[d * 3 * hid * inp..(d + 1) * 3 * hid * inp];
        let r = &wt.r[d * 3 * hid * hid..(d + 1) * 3 * hid * hid];
        let bias = &wt.bias[d * 4 * hid..(d + 1) * 4 * hid];
        let spans = (&wt.w_span[d * hid..][..hid], &wt.r_span[d * hid..][..hid]);
        for b0 in (0..batch).step_by(L) {
            let lanes = L.min(batch - b0);
            for (j, hj) in h.iter_mut().enumerate() {
                *hj = [0.0; L];
                if let Some(h0) = io.initial_h {
                    for (l, v) in hj.iter_mut().enumerate().take(lanes) {
                        *v = h0[(d * io.h_batch + io.h_first + b0 + l) * hid + j];
                    }
                }
            }
            for i in 0..seq {
                let t = if wt.direction.backwards(d) { seq - 1 - i } else { i };
                let mut done = 0;
                #[cfg(target_arch = "x86_64")]
                if AVX512 && xk == 1 {
                    // Whole blocks of 16 lanes × 16 features, transposed in registers.
                    let xs = xs.as_flattened_mut();
                    while done + 16 <= lanes {
                        // SAFETY: `layer_avx512`, the only caller with AVX512 = true, runs with avx512f.
                        unsafe { gather16(&io.x[t * xt + (b0 + done) * xb..], xb, inp, &mut xs[done..], L) };
                        done += 16;
                    }
                }
                for l in done..lanes {
                    let row = t * xt + (b0 + l) * xb;
                    for (k, v) in xs.iter_mut().enumerate() {
                        v[l] = io.x[row + k * xk];
                    }
                }
                step::<L, FUSED>(w, r, bias, spans, &xs, &h, &mut sums, &mut next);
                std::mem::swap(&mut h, &mut next);
                if let Some(y) = io.y.as_deref_mut() {
                    let mut done = 0;
                    #[cfg(target_arch = "x86_64")]
                    if AVX512 && yj == 1 {
                        while done + 16 <= lanes {
                            // SAFETY: as for gather16.
                            unsafe { scatter16(&h.as_flattened()[done..], L, hid, &mut y[t * yt + d * yd + (b0 + done) * yb..], yb) };
                            done += 16;
                        }
                    }
                    for l in done..lanes {
                        let base = t * yt + d * yd + (b0 + l) * yb;
                        for (j, hj) in h.iter().enumerate() {
                            y[base + j * yj] = hj[l];
                        }
                    }
                }
            }
            if let Some(y_h) = io.y_h.as_deref_mut() {
                for l in 0..lanes {
                    for (j, hj) in h.iter().enumerate() {
                        y_h[(d * io.h_batch + io.h_first + b0 + l) * hid + j] = hj[l];
                    }
                }
            }
        }
    }
}

/// One time step for one chunk: `next` = GRU(`xs`, `h`). Unused lanes carry zeros through harmlessly. Each unit's
/// sums run over its spans of non-zero columns only (`spans`: W's and R's, one per unit), in column order. Every
/// unit's sums come first (into `sums`, 4H rows), then every unit's gates: each phase is a run of independent
/// chains the CPU can overlap, where one unit's sums and gates in turn would make one long dependent chain per
/// unit.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn step<const L: usize, const FUSED: bool>(
    w: &[f32],
    r: &[f32],
    bias: &[f32],
    spans: (&[Span], &[Span]),
    xs: &[[f32; L]],
    h: &[[f32; L]],
    sums: &mut [[f32; L]],
    next: &mut [[f32; L]],
) {
    let (hid, inp) = (h.len(), xs.len());
    for j in 0..hid {
        let (ws, rs) = (spans.0[j], spans.1[j]);
        let (wz, wr, wn) = (&w[j * inp..][..inp], &w[(hid + j) * inp..][..inp], &w[(2 * hid + j) * inp..][..inp]);
        let (rz, rr, rn) = (&r[j * hid..][..hid], &r[(hid + j) * hid..][..hid], &r[(2 * hid + j) * hid..][..hid]);
        // Four independent sums per unit keep the FMA pipes busy.
        let mut az = [bias[j]; L];
        let mut ar = [bias[hid + j]; L];
        let mut anx = [bias[2 * hid + j]; L];
        let mut anh = [bias[3 * hid + j]; L];
        for k in ws.lo..ws.hi {
            let xv = &xs[k];
            for l in 0..L {
                az[l] = madd::<FUSED>(wz[k], xv[l], az[l]);
                ar[l] = madd::<FUSED>(wr[k], xv[l], ar[l]);
                anx[l] = madd::<FUSED>(wn[k], xv[l], anx[l]);
            }
        }
        for k in rs.lo..rs.hi {
            let hv = &h[k];
            for l in 0..L {
                az[l] = madd::<FUSED>(rz[k], hv[l], az[l]);
                ar[l] = madd::<FUSED>(rr[k], hv[l], ar[l]);
                anh[l] = madd::<FUSED>(rn[k], hv[l], anh[l]);
            }
        }
        (sums[j], sums[hid + j], sums[2 * hid + j], sums[3 * hid + j]) = (az, ar, anx, anh);
    }
    for j in 0..hid {
        let (az, ar, anx, anh) = (&sums[j], &sums[hid + j], &sums[2 * hid + j], &sums[3 * hid + j]);
        let out = &mut next[j];
        let hj = &h[j];
        for l in 0..L {
            let z = sigmoid_with::<FUSED>(az[l]);
            let rg = sigmoid_with::<FUSED>(ar[l]);
            let n = tanh_with::<FUSED>(madd::<FUSED>(rg, anh[l], anx[l]));
            out[l] = (1.0 - z) * n + z * hj[l];
        }
    }
}

/// a·b + c, fused where the instruction set has it (`f32::mul_add` without FMA hardware is a slow library call).
#[inline(always)]
fn madd<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}

/// eˣ for x in [−87.3, 88.3] (clamped outside), within 2 ulp, branch-free so that loops over it vectorise:
/// x = n·ln 2 + f with |f| ≤ ln 2 / 2, eᶠ by a degree-6 polynomial (Cephes' expf coefficients), 2ⁿ built in the
/// exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    exp_with::<false>(x)
}

/// [`exp`] with its polynomial in fused multiply-adds when `FUSED` (half the operations on the GRU's critical
/// path; the rounding differs from [`exp`]'s in the last bit now and then, within the same 2 ulp).
#[inline(always)]
pub fn exp_with<const FUSED: bool>(x: f32) -> f32 {
    // 1.5·2²³: adding it rounds to an integer (round to nearest even) and leaves that integer in the low mantissa bits.
    const SHIFT: f32 = 12_582_912.0;
    const SHIFT_BITS: i32 = 0x4B40_0000;
    // ln 2 split so that n·LN2_HI is exact for |n| ≤ 2⁹.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.3);
    let shifted = x * std::f32::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    let f = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5] {
        p = madd::<FUSED>(p, f, c);
    }
    let ef = madd::<FUSED>(p * f, f, f) + 1.0;
    let n_int = (shifted.to_bits() as i32).wrapping_sub(SHIFT_BITS);
    ef * f32::from_bits(((n_int + 127) as u32) << 23)
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    sigmoid_with::<false>(x)
}

/// [`sigmoid`] through [`exp_with`].
#[inline(always)]
pub fn sigmoid_with<const FUSED: bool>(x: f32) -> f32 {
    1.0 / (1.0 + exp_with::<FUSED>(-x))
}

/// tanh through e^(−2|x|), which never overflows; the absolute error stays below ~1e-7 (relative error grows
/// only where tanh itself is tiny).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    tanh_with::<false>(x)
}

/// [`tanh`] through [`exp_with`].
#[inline(always)]
pub fn tanh_with<const FUSED: bool>(x: f32) -> f32 {
    let e = exp_with::<FUSED>(-2.0 * x.abs());
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_over_its_range() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            for got in [exp(x), exp_with::<true>(x)] {
                worst = worst.max(((got as f64 - want) / want).abs());
            }
            x += 0.000_37;
        }
        assert!(worst < 2.5e-7, "worst relative error {worst:e}");
        assert_eq!((exp(0.0), exp_with::<true>(0.0)), (1.0, 1.0));
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 1e-37);
        assert!(exp(1000.0).is_finite() && exp(1000.0) > 1e38);
    }

    #[test]
    fn sigmoid_and_tanh_match_the_library_within_float_rounding() {
        let mut x = -30.0f32;
        while x < 30.0 {
            for (sig, th) in [(sigmoid(x), tanh(x)), (sigmoid_with::<true>(x), tanh_with::<true>(x))] {
                assert!((sig as f64 - 1.0 / (1.0 + (-(x as f64)).exp())).abs() < 1.5e-7, "sigmoid({x})");
                assert!((th as f64 - (x as f64).tanh()).abs() < 2.5e-7, "tanh({x})");
            }
            x += 0.001_3;
        }
        assert_eq!((tanh(0.0), tanh_with::<true>(0.0)), (0.0, 0.0));
        assert_eq!((tanh(-50.0), tanh_with::<true>(-50.0)), (-1.0, -1.0));
    }

    /// One layer and its inputs.
    struct Case {
        dir: Direction,
        hid: usize,
        inp: usize,
        seq: usize,
        batch: usize,
        w: Vec<f32>,
        r: Vec<f32>,
        b: Vec<f32>,
        x: Vec<f32>,
    }

    /// The recurrence written out plainly in f64, from the equations in the module docs: (Y, Y_h).
    fn reference(c: &Case, h0: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let Case { dir, hid, inp, seq, batch, .. } = *c;
        let (w, r, b, x) = (&c.w, &c.r, &c.b, &c.x);
        let dirs = dir.count();
        let mut y = vec![0.0f64; seq * dirs * batch * hid];
        let mut yh = vec![0.0f64; dirs * batch * hid];
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        for d in 0..dirs {
            for bi in 0..batch {
                let mut h: Vec<f64> = (0..hid).map(|j| h0[(d * batch + bi) * hid + j] as f64).collect();
                for i in 0..seq {
                    let t = if dir.backwards(d) { seq - 1 - i } else { i };
                    let xt = &x[(t * batch + bi) * inp..][..inp];
                    let row =
                        |m: &[f32], g: usize, j: usize, v: &[f64], n: usize| -> f64 { (0..n).map(|k| m[((d * 3 + g) * hid + j) * n + k] as f64 * v[k]).sum() };
                    let xf: Vec<f64> = xt.iter().map(|&v| v as f64).collect();
                    let bb = |g: usize, j: usize| b[d * 6 * hid + g * hid + j] as f64;
                    let new: Vec<f64> = (0..hid)
                        .map(|j| {
                            let z = sig(row(w, 0, j, &xf, inp) + bb(0, j) + row(r, 0, j, &h, hid) + bb(3, j));
                            let rg = sig(row(w, 1, j, &xf, inp) + bb(1, j) + row(r, 1, j, &h, hid) + bb(4, j));
                            let n = (row(w, 2, j, &xf, inp) + bb(2, j) + rg * (row(r, 2, j, &h, hid) + bb(5, j))).tanh();
                            (1.0 - z) * n + z * h[j]
                        })
                        .collect();
                    h = new;
                    y[((t * dirs + d) * batch + bi) * hid..][..hid].copy_from_slice(&h);
                }
                yh[(d * batch + bi) * hid..][..hid].copy_from_slice(&h);
            }
        }
        (y, yh)
    }

    fn values(n: usize, seed: u32, scale: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    /// Zeroes every weight outside `groups` diagonal blocks (GTCRN's merged grouped GRUs).
    fn block_diagonal(m: &mut [f32], dirs: usize, hid: usize, cols: usize, groups: usize) {
        for d in 0..dirs {
            for g in 0..3 * hid {
                let unit = g % hid;
                for k in 0..cols {
                    if unit / (hid / groups) != k / (cols / groups) {
                        m[(d * 3 * hid + g) * cols + k] = 0.0;
                    }
                }
            }
        }
    }

    #[test]
    fn a_block_diagonal_layer_equals_its_groups_run_apart_bit_for_bit() {
        // Skipping exact zeros leaves every sum as it was: the chunk plan on a block-diagonal layer gives each
        // group's units exactly what a layer of that group alone gives (the same columns in the same order).
        let (dir, hid, inp, seq, batch, groups) = (Direction::Bidirectional, 8, 16, 6, 45, 2);
        let (dirs, gh, gi) = (dir.count(), hid / groups, inp / groups);
        let mut w = values(dirs * 3 * hid * inp, 1, 0.5);
        let mut r = values(dirs * 3 * hid * hid, 2, 0.5);
        block_diagonal(&mut w, dirs, hid, inp, groups);
        block_diagonal(&mut r, dirs, hid, hid, groups);
        let b = values(dirs * 6 * hid, 3, 0.3);
        let x = values(seq * batch * inp, 4, 2.0);
        let h0 = values(dirs * batch * hid, 5, 0.8);
        let whole = GruWeights::new(dir, hid, inp, &w, &r, Some(&b)).unwrap();
        // Each unit reads only its group's columns.
        assert!(whole.w_span.iter().all(|s| s.hi - s.lo == gi) && whole.r_span.iter().all(|s| s.hi - s.lo == gh));
        for isa in Isa::available() {
            let mut y = vec![f32::NAN; seq * dirs * batch * hid];
            let mut yh = vec![f32::NAN; dirs * batch * hid];
            run_with(isa, Plan::Chunks, &whole, GruIo::new(&whole, seq, batch, &x, Some(&h0), Some(&mut y), Some(&mut yh))).unwrap();
            for g in 0..groups {
                // The group's gate rows, and of those its own columns.
                let rows = |m: &[f32], cols: usize, own: usize| -> Vec<f32> {
                    let mut out = Vec::new();
                    for d_gate in 0..dirs * 3 {
                        for j in g * gh..(g + 1) * gh {
                            out.extend_from_slice(&m[(d_gate * hid + j) * cols + g * own..][..own]);
                        }
                    }
                    out
                };
                let (sw, sr) = (rows(&w, inp, gi), rows(&r, hid, gh));
                let sb: Vec<f32> = (0..dirs * 6).flat_map(|part| b[part * hid + g * gh..][..gh].to_vec()).collect();
                let sx: Vec<f32> = x.chunks(inp).flat_map(|row| row[g * gi..][..gi].to_vec()).collect();
                let sh0: Vec<f32> = h0.chunks(hid).flat_map(|row| row[g * gh..][..gh].to_vec()).collect();
                let part = GruWeights::new(dir, gh, gi, &sw, &sr, Some(&sb)).unwrap();
                let mut sy = vec![f32::NAN; seq * dirs * batch * gh];
                let mut syh = vec![f32::NAN; dirs * batch * gh];
                run_with(isa, Plan::Chunks, &part, GruIo::new(&part, seq, batch, &sx, Some(&sh0), Some(&mut sy), Some(&mut syh))).unwrap();
                let mine = |all: &[f32]| -> Vec<f32> { all.chunks(hid).flat_map(|row| row[g * gh..][..gh].to_vec()).collect() };
                assert_eq!(mine(&y), sy, "{isa:?} group {g}: Y");
                assert_eq!(mine(&yh), syh, "{isa:?} group {g}: Y_h");
            }
        }
    }

    #[test]
    fn spans_cover_every_non_zero_weight_of_a_unit() {
        // [dirs 1][3 gates × 2 units][3 columns]: unit 0 reads column 1 (z) and 2 (h); unit 1 nothing.
        let m = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -2.0, 0.0, -0.0, 0.0];
        assert_eq!(spans(&m, 1, 2, 3), [Span { lo: 1, hi: 3 }, Span { lo: 0, hi: 0 }]);
        assert_eq!(spans(&[0.5; 18], 1, 2, 3), [Span { lo: 0, hi: 3 }; 2]);
        assert_eq!(transposed(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 1, 2, 3), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn every_instruction_set_matches_an_f64_reference() {
        // Batch sizes around the lane counts (partial chunks, full and partial blocks of 16 lanes, a tail run
        // sequence by sequence: 33 and 37), every direction, with and without initial state; dense weights and
        // GTCRN's block-diagonal ones (2 groups), whose zeros the chunk plan skips.
        for (dir, hid, inp, seq, batch, groups) in [
            (Direction::Forward, 16, 8, 40, 1, 1),
            (Direction::Bidirectional, 8, 16, 9, 19, 1),
            (Direction::Reverse, 16, 16, 12, 17, 1),
            (Direction::Forward, 5, 3, 7, 33, 1),
            (Direction::Forward, 16, 16, 5, 64, 1),
            (Direction::Bidirectional, 8, 16, 6, 15, 1),
            (Direction::Forward, 16, 16, 9, 33, 1),
            (Direction::Forward, 16, 16, 9, 33, 2),
            (Direction::Reverse, 16, 24, 8, 37, 2),
            (Direction::Bidirectional, 8, 16, 7, 45, 2),
            (Direction::Bidirectional, 8, 16, 5, 75, 2),
            (Direction::Forward, 6, 9, 5, 20, 3),
        ] {
            let dirs = dir.count();
            let mut case = Case {
                dir,
                hid,
                inp,
                seq,
                batch,
                w: values(dirs * 3 * hid * inp, 1, 0.5),
                r: values(dirs * 3 * hid * hid, 2, 0.5),
                b: values(dirs * 6 * hid, 3, 0.3),
                x: values(seq * batch * inp, 4, 2.0),
            };
            block_diagonal(&mut case.w, dirs, hid, inp, groups);
            block_diagonal(&mut case.r, dirs, hid, hid, groups);
            let h0 = values(dirs * batch * hid, 5, 0.8);
            let weights = GruWeights::new(dir, hid, inp, &case.w, &case.r, Some(&case.b)).unwrap();
            let with_h0 = reference(&case, &h0);
            let without = reference(&case, &vec![0.0; h0.len()]);
            let plans: &[Plan] = if matches!(hid, 8 | 16) { &[Plan::Chunks, Plan::Sequences] } else { &[Plan::Chunks] };
            for (isa, &plan) in Isa::available().into_iter().flat_map(|i| plans.iter().map(move |p| (i, p))) {
                for initial in [true, false] {
                    let (want_y, want_h) = if initial { &with_h0 } else { &without };
                    let mut y = vec![f32::NAN; want_y.len()];
                    let mut yh = vec![f32::NAN; want_h.len()];
                    let io = GruIo::new(&weights, seq, batch, &case.x, initial.then_some(&h0[..]), Some(&mut y), Some(&mut yh));
                    run_with(isa, plan, &weights, io).unwrap();
                    let worst = y.iter().zip(want_y).chain(yh.iter().zip(want_h)).map(|(&a, &b)| (a as f64 - b).abs()).fold(0.0, f64::max);
                    assert!(worst < 2e-6, "{isa:?} {plan:?} {dir:?} hidden {hid} batch {batch} {groups} group(s) initial {initial}: max |diff| {worst:e}");
                }
            }
        }
    }

    /// `logical` (row-major over `dims`) stored with strides `strides`, or read back (`back`).
    fn relayout<const N: usize>(data: &[f32], dims: [usize; N], strides: [usize; N], back: bool) -> Vec<f32> {
        let mut out = vec![0.0; data.len()];
        for (lin, &v) in data.iter().enumerate() {
            let (mut rest, mut offset) = (lin, 0);
            for a in (0..N).rev() {
                offset += (rest % dims[a]) * strides[a];
                rest /= dims[a];
            }
            if back { out[lin] = data[offset] } else { out[offset] = v }
        }
        out
    }

    #[test]
    fn permuted_layouts_read_and_write_the_same_values() {
        assert_eq!(permuted_strides([2, 3, 4], &[2, 0, 1]).unwrap(), [3, 1, 6]);
        assert!(permuted_strides([2, 3, 4], &[0, 0, 1]).is_err());
        assert!(permuted_strides([2, 3, 4], &[0, 1]).is_err());
        // GTCRN's: X from [batch, I, seq] (TRA) or [batch, seq, I] (DPGRNN); Y to [seq, batch, dirs, H] (intra)
        // or [batch, dirs, seq, H] (inter, before a Squeeze).
        for (dir, hid, inp, seq, batch, x_perm, y_perm) in [
            (Direction::Bidirectional, 8, 16, 9, 19, [1, 0, 2], [0, 2, 1, 3]),
            (Direction::Forward, 16, 8, 40, 1, [1, 2, 0], [2, 1, 0, 3]),
            (Direction::Forward, 16, 16, 30, 33, [1, 0, 2], [2, 1, 0, 3]),
        ] {
            let dirs = dir.count();
            let w = values(dirs * 3 * hid * inp, 1, 0.5);
            let r = values(dirs * 3 * hid * hid, 2, 0.5);
            let x = values(seq * batch * inp, 4, 2.0);
            let weights = GruWeights::new(dir, hid, inp, &w, &r, None).unwrap();
            let mut want = vec![0.0; seq * dirs * batch * hid];
            run(&weights, GruIo::new(&weights, seq, batch, &x, None, Some(&mut want), None)).unwrap();
            let x_strides = permuted_strides([seq, batch, inp], &x_perm).unwrap();
            let y_strides = permuted_strides([seq, dirs, batch, hid], &y_perm).unwrap();
            let stored_x = relayout(&x, [seq, batch, inp], x_strides, false);
            for isa in Isa::available() {
                for plan in [Plan::Chunks, Plan::Sequences] {
                    let mut y = vec![f32::NAN; want.len()];
                    let mut io = GruIo::new(&weights, seq, batch, &stored_x, None, Some(&mut y), None);
                    (io.x_strides, io.y_strides) = (x_strides, y_strides);
                    run_with(isa, plan, &weights, io).unwrap();
                    let got = relayout(&y, [seq, dirs, batch, hid], y_strides, true);
                    let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                    assert!(worst < 1e-6, "{isa:?} {plan:?} x {x_perm:?} y {y_perm:?}: {worst:e}");
                }
            }
        }
    }

    #[test]
    fn wrong_lengths_are_reported_not_indexed() {
        assert!(GruWeights::new(Direction::Forward, 4, 2, &[0.0; 23], &[0.0; 48], None).unwrap_err().contains("W holds 23"));
        let wt = GruWeights::new(Direction::Forward, 4, 2, &[0.0; 24], &[0.0; 48], None).unwrap();
        let io = GruIo::new(&wt, 3, 2, &[0.0; 11], None, None, None);
        assert!(run(&wt, io).unwrap_err().contains("X holds 11"));
        let mut io = GruIo::new(&wt, 3, 2, &[0.0; 12], None, None, None);
        io.x_strides = [4, 2, 2];
        assert!(run(&wt, io).unwrap_err().contains("reach past"));
        let mut y = vec![0.0; 3 * 2 * 4];
        let mut yh = vec![1.0; 2 * 4];
        run(&wt, GruIo::new(&wt, 3, 2, &[0.0; 12], None, Some(&mut y), Some(&mut yh))).unwrap();
        // Zero weights and inputs: z = r = ½, n = 0, so h halves each step from 0 and stays 0.
        assert!(yh.iter().all(|&v| v == 0.0));
    }
}
