//! A small seeded generator (splitmix64 seeding, xorshift64* steps): the same seed gives
//! the same traces on every machine, with no dependency.

/// A seeded pseudo-random generator.
pub struct Rng(u64);

impl Rng {
    /// The generator for trace `index` of `family` in the set with seed base `base`. The
    /// family is hashed by name, so adding a family does not change the others' traces.
    pub fn for_trace(base: u64, family: &str, index: u64) -> Self {
        let name = family.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let mut state = splitmix(base ^ splitmix(name ^ splitmix(index)));
        if state == 0 {
            state = 0x9E37_79B9_7F4A_7C15;
        }
        Rng(state)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }

    /// Log-uniform in [lo, hi): every order of magnitude equally likely (rates, noise).
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.uniform(lo.ln(), hi.ln()).exp()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform(0.0, 1.0) < p
    }

    /// A whole number in [lo, hi].
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        (self.uniform(lo as f64, (hi + 1) as f64) as i64).min(hi)
    }

    /// Standard normal (Box–Muller).
    pub fn gaussian(&mut self) -> f64 {
        let (u, v) = (self.uniform(1e-12, 1.0), self.uniform(0.0, 1.0));
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// splitmix64's finaliser: spreads nearby seeds far apart.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
