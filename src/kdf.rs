//! The password-based key derivations of a download, as tight loops over the bare SHA-256
//! and SHA-1 compression functions: PBKDF2-HMAC-SHA256 (RFC 8018) with the HMAC inner and
//! outer states computed once, and the PKCS#12 KDF (RFC 7292, Appendix B.2) over SHA-256
//! and SHA-1.
//!
//! Each iteration of either KDF is one compression of a single block whose first bytes are
//! the previous output and whose padding never changes, so the loop writes the previous
//! output into that block and compresses, nothing else: no buffering, no finalization, no
//! state clones. The derivations a file needs are independent (each has its own salt), so
//! they run as *lanes* stepped in turn: the compression of one lane is independent of the
//! others', and the processor overlaps them. That is why a PFX's three derivations together
//! cost less here than the compression bound of the same blocks one after the other.
//!
//! The unit tests prove the output equal to the `pbkdf2` and `pkcs12` crates' on the RFC
//! vectors and on random inputs. Every derived or password-dependent value (HMAC states,
//! the PKCS#12 `I` string, lane states and blocks) is zeroized when dropped.

use zeroize::{Zeroize, Zeroizing};

/// What every derivation takes.
#[derive(Clone, Copy)]
pub(crate) struct Params<'a> {
    /// PBKDF2: the password's UTF-8 bytes. PKCS#12: its BMPString form (UTF-16BE with its
    /// two zero bytes).
    pub(crate) password: &'a [u8],
    pub(crate) salt: &'a [u8],
    pub(crate) iterations: u32,
}

/// The diversifier ID of the PKCS#12 KDF (RFC 7292, appendix B.3): what the derived bytes
/// are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Diversifier {
    /// An encryption key.
    Key = 1,
    /// An IV.
    Iv = 2,
    /// A MAC key.
    Mac = 3,
}

/// One derivation: its function and its parameters.
#[derive(Clone, Copy)]
pub(crate) enum Kdf<'a> {
    /// PBKDF2 with HMAC-SHA256 (RFC 8018).
    Pbkdf2Sha256(Params<'a>),
    /// The PKCS#12 KDF over SHA-256.
    Pkcs12Sha256(Params<'a>, Diversifier),
    /// The PKCS#12 KDF over SHA-1.
    Pkcs12Sha1(Params<'a>, Diversifier),
}

impl<'a> Kdf<'a> {
    fn params(&self) -> &Params<'a> {
        match self {
            Kdf::Pbkdf2Sha256(params)
            | Kdf::Pkcs12Sha256(params, _)
            | Kdf::Pkcs12Sha1(params, _) => params,
        }
    }

    /// The compressions this derivation needs for `out_len` bytes, about: what the
    /// parallel split balances.
    #[cfg_attr(not(feature = "parallel-kdf"), allow(dead_code))]
    pub(crate) fn cost(&self, out_len: usize) -> u64 {
        let (per_iteration, digest_len) = match self {
            Kdf::Pbkdf2Sha256(_) => (2, 32),
            Kdf::Pkcs12Sha256(..) => (1, 32),
            Kdf::Pkcs12Sha1(..) => (1, 20),
        };
        per_iteration * u64::from(self.params().iterations) * out_len.div_ceil(digest_len) as u64
    }

    fn is_sha1(&self) -> bool {
        matches!(self, Kdf::Pkcs12Sha1(..))
    }
}

/// Derives every job's output, interleaving all of them on this thread.
pub(crate) fn derive(jobs: &mut [(Kdf<'_>, &mut [u8])]) {
    if jobs.iter().any(|(k, _)| !k.is_sha1()) {
        run::<Sha256Core>(jobs, |k| !k.is_sha1());
    }
    if jobs.iter().any(|(k, _)| k.is_sha1()) {
        run::<Sha1Core>(jobs, |k| k.is_sha1());
    }
}

/// [`derive()`] on two threads when the work is large enough to pay for one: the jobs are
/// split into two groups of about equal cost, each interleaved on its own thread.
#[cfg(feature = "parallel-kdf")]
pub(crate) fn derive_parallel(jobs: &mut [(Kdf<'_>, &mut [u8])]) {
    /// Below this many compressions (about 100 µs) a thread costs more than it saves.
    const MIN_PARALLEL_COST: u64 = 4096;
    let total: u64 = jobs.iter().map(|(k, o)| k.cost(o.len())).sum();
    if jobs.len() < 2 || total < MIN_PARALLEL_COST {
        return derive(jobs);
    }
    // Greedy split, largest first: each job goes to the lighter group.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].0.cost(jobs[i].1.len())));
    let mut loads = [0u64; 2];
    let mut group = vec![0usize; jobs.len()];
    for i in order {
        let g = usize::from(loads[1] < loads[0]);
        group[i] = g;
        loads[g] += jobs[i].0.cost(jobs[i].1.len());
    }
    let mut mine: Vec<(Kdf<'_>, &mut [u8])> = Vec::with_capacity(jobs.len());
    let mut theirs: Vec<(Kdf<'_>, &mut [u8])> = Vec::with_capacity(jobs.len());
    for ((kdf, out), g) in jobs.iter_mut().zip(&group) {
        if *g == 0 {
            mine.push((*kdf, &mut **out));
        } else {
            theirs.push((*kdf, &mut **out));
        }
    }
    std::thread::scope(|s| {
        s.spawn(|| derive(&mut theirs));
        derive(&mut mine);
    });
}

/// A compression function over a state of big-endian 32-bit words (SHA-256 and SHA-1).
trait Core {
    type State: Copy + Zeroize + AsRef<[u32]> + AsMut<[u32]>;
    /// The initial state.
    const IV: Self::State;
    /// The digest length in bytes.
    const OUT: usize;
    fn compress(state: &mut Self::State, block: &[u8; 64]);

    /// Writes the digest of `state` into the first [`OUT`](Self::OUT) bytes of `dest`.
    #[inline(always)]
    fn put(dest: &mut [u8], state: &Self::State) {
        for (d, w) in dest.chunks_exact_mut(4).zip(state.as_ref()) {
            d.copy_from_slice(&w.to_be_bytes());
        }
    }

    #[inline(always)]
    fn xor(acc: &mut Self::State, state: &Self::State) {
        for (a, s) in acc.as_mut().iter_mut().zip(state.as_ref()) {
            *a ^= s;
        }
    }
}

struct Sha256Core;

impl Core for Sha256Core {
    type State = [u32; 8];
    const IV: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    const OUT: usize = 32;

    #[inline(always)]
    fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
        sha2::block_api::compress256(state, std::slice::from_ref(block));
    }
}

struct Sha1Core;

impl Core for Sha1Core {
    type State = [u32; 5];
    const IV: [u32; 5] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
    const OUT: usize = 20;

    #[inline(always)]
    fn compress(state: &mut [u32; 5], block: &[u8; 64]) {
        sha1::block_api::compress(state, std::slice::from_ref(block));
    }
}

/// The hash of `msg` continued from `state`, which has already absorbed `prefix_len`
/// bytes (a whole number of blocks): Merkle-Damgård padding with the 64-bit bit length.
fn hash_from<H: Core>(mut state: H::State, prefix_len: usize, msg: &[u8]) -> H::State {
    let (blocks, rest) = msg.as_chunks::<64>();
    for block in blocks {
        H::compress(&mut state, block);
    }
    let bits = ((prefix_len + msg.len()) as u64).wrapping_mul(8);
    let mut last = Zeroizing::new([0u8; 128]);
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] = 0x80;
    let end = if rest.len() + 9 <= 64 { 64 } else { 128 };
    last[end - 8..end].copy_from_slice(&bits.to_be_bytes());
    let (tail, _) = last[..end].as_chunks::<64>();
    for block in tail {
        H::compress(&mut state, block);
    }
    state
}

/// A message block of `len` bytes (at most 55) after `prefix` bytes, padded: the message
/// bytes are left zero for the loop to fill.
fn padded_block(len: usize, prefix: usize) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[len] = 0x80;
    block[56..].copy_from_slice(&(((prefix + len) as u64) * 8).to_be_bytes());
    block
}

/// The HMAC pad a PBKDF2 lane compresses from next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pad {
    Inner = 0,
    Outer = 1,
}

/// How a lane's chain goes on from one step to the next.
enum Chain<H: Core> {
    /// PBKDF2: U_j = HMAC(P, U_{j-1}), an inner then an outer compression, each from its
    /// pad's state; T is the XOR of the outer outputs.
    Hmac {
        pads: [H::State; 2],
        next: Pad,
        t: H::State,
    },
    /// PKCS#12: A = H(A), each step a compression from the IV; the last output is in the
    /// lane's `out`. It keeps what its job's next output block starts from.
    Hash(Pkcs12Job),
}

/// What a PKCS#12 job's next output block starts from (RFC 7292, appendix B.2).
struct Pkcs12Job {
    /// I: the salt and the password, each repeated to whole blocks.
    i: Zeroizing<Vec<u8>>,
    id: Diversifier,
    iterations: u32,
}

/// One chain of iterations: each step compresses `block` from the chain's state and writes
/// the result back as the next step's message. Aligned to a cache line, so that the hot
/// loop's speed does not depend on where the allocator puts the lanes.
#[repr(align(64))]
struct Lane<H: Core> {
    chain: Chain<H>,
    block: [u8; 64],
    /// The last step's output.
    out: H::State,
    steps: u64,
    /// Which job, and which output block of it.
    job: usize,
    index: usize,
}

impl<H: Core> Lane<H> {
    /// The state this lane's next step compresses from.
    #[inline(always)]
    fn start(&self) -> H::State {
        match &self.chain {
            Chain::Hmac { pads, next, .. } => pads[*next as usize],
            Chain::Hash(_) => H::IV,
        }
    }

    /// Takes the step's output in `out`: the next message, and T for PBKDF2.
    #[inline(always)]
    fn advance(&mut self) {
        H::put(&mut self.block, &self.out);
        if let Chain::Hmac { next, t, .. } = &mut self.chain {
            if *next == Pad::Outer {
                H::xor(t, &self.out);
                *next = Pad::Inner;
            } else {
                *next = Pad::Outer;
            }
        }
        self.steps -= 1;
    }

    /// The output block this lane derives, once its steps are done.
    fn result(&self) -> H::State {
        match &self.chain {
            Chain::Hmac { t, .. } => *t,
            Chain::Hash(_) => self.out,
        }
    }
}

impl<H: Core> Drop for Lane<H> {
    fn drop(&mut self) {
        if let Chain::Hmac { pads, t, .. } = &mut self.chain {
            pads.zeroize();
            t.zeroize();
        }
        self.block.zeroize();
        self.out.zeroize();
    }
}

/// The HMAC key pads' states: a password longer than a block is hashed first.
fn hmac_pads<H: Core>(password: &[u8]) -> [H::State; 2] {
    let mut key = Zeroizing::new([0u8; 64]);
    if password.len() > 64 {
        let digest = hash_from::<H>(H::IV, 0, password);
        H::put(&mut key[..], &digest);
    } else {
        key[..password.len()].copy_from_slice(password);
    }
    let mut pads = [H::IV; 2];
    for (pad, byte) in pads.iter_mut().zip([0x36u8, 0x5c]) {
        let mut block = Zeroizing::new([0u8; 64]);
        for (b, k) in block.iter_mut().zip(key.iter()) {
            *b = k ^ byte;
        }
        H::compress(pad, &block);
    }
    pads
}

/// The lane of PBKDF2 output block `index` (0-based): U_1 computed, the rest to iterate.
fn pbkdf2_lane<H: Core>(
    pads: &[H::State; 2],
    params: &Params<'_>,
    job: usize,
    index: usize,
) -> Lane<H> {
    let mut msg = Zeroizing::new(Vec::with_capacity(params.salt.len() + 4));
    msg.extend_from_slice(params.salt);
    msg.extend_from_slice(&(index as u32).wrapping_add(1).to_be_bytes());
    let inner = hash_from::<H>(pads[0], 64, &msg);
    let mut block = padded_block(H::OUT, 64);
    H::put(&mut block, &inner);
    let mut u1 = pads[1];
    H::compress(&mut u1, &block);
    H::put(&mut block, &u1);
    Lane {
        chain: Chain::Hmac {
            pads: *pads,
            next: Pad::Inner,
            t: u1,
        },
        block,
        out: u1,
        steps: 2 * u64::from(params.iterations.max(1) - 1),
        job,
        index,
    }
}

/// The lane of a PKCS#12 output block: A = H(D || I) computed, the rest to iterate.
fn pkcs12_lane<H: Core>(next: Pkcs12Job, job: usize, index: usize) -> Lane<H> {
    let mut state = H::IV;
    H::compress(&mut state, &[next.id as u8; 64]);
    let a1 = hash_from::<H>(state, 64, &next.i);
    let mut block = padded_block(H::OUT, 0);
    H::put(&mut block, &a1);
    Lane {
        // The crate takes an i32 and iterates `1..rounds`: a count of 0 hashes once.
        steps: u64::from(next.iterations.max(1) - 1),
        chain: Chain::Hash(next),
        block,
        out: a1,
        job,
        index,
    }
}

/// The first lanes of the jobs selected by `mine`: every output block of a PBKDF2 job, the
/// first of a PKCS#12 job (each of its blocks starts from the one before).
fn first_lanes<H: Core>(
    jobs: &[(Kdf<'_>, &mut [u8])],
    mine: impl Fn(&Kdf<'_>) -> bool,
) -> Vec<Lane<H>> {
    let mut lanes = Vec::with_capacity(jobs.len() + 2);
    for (j, (kdf, out)) in jobs.iter().enumerate() {
        if !mine(kdf) || out.is_empty() {
            continue;
        }
        match kdf {
            Kdf::Pbkdf2Sha256(params) => {
                let mut pads = hmac_pads::<H>(params.password);
                for index in 0..out.len().div_ceil(H::OUT) {
                    lanes.push(pbkdf2_lane(&pads, params, j, index));
                }
                pads.zeroize();
            }
            Kdf::Pkcs12Sha256(params, id) | Kdf::Pkcs12Sha1(params, id) => {
                let next = Pkcs12Job {
                    i: pkcs12_i(params.salt, params.password),
                    id: *id,
                    iterations: params.iterations,
                };
                lanes.push(pkcs12_lane(next, j, 0));
            }
        }
    }
    lanes
}

/// Runs the jobs selected by `mine` to completion, all their lanes interleaved.
fn run<H: Core>(jobs: &mut [(Kdf<'_>, &mut [u8])], mine: impl Fn(&Kdf<'_>) -> bool) {
    let mut lanes = first_lanes::<H>(jobs, mine);
    while !lanes.is_empty() {
        // Step every lane until the first one finishes.
        let rounds = lanes.iter().map(|l| l.steps).min().unwrap_or(0);
        for _ in 0..rounds {
            // All compressions first, then all the write-backs: the compressions do not
            // depend on each other, so the processor runs them side by side.
            for lane in lanes.iter_mut() {
                lane.out = lane.start();
                H::compress(&mut lane.out, &lane.block);
            }
            for lane in lanes.iter_mut() {
                lane.advance();
            }
        }
        finish_lanes(jobs, &mut lanes);
    }
}

/// Writes out the lanes that are done; a PKCS#12 job that needs its next output block
/// gets its next lane.
fn finish_lanes<H: Core>(jobs: &mut [(Kdf<'_>, &mut [u8])], lanes: &mut Vec<Lane<H>>) {
    let mut k = 0;
    while k < lanes.len() {
        if lanes[k].steps > 0 {
            k += 1;
            continue;
        }
        let mut lane = lanes.swap_remove(k);
        let out = &mut *jobs[lane.job].1;
        let start = lane.index * H::OUT;
        let end = out.len().min(start + H::OUT);
        let mut digest = Zeroizing::new([0u8; 32]);
        H::put(&mut digest[..], &lane.result());
        out[start..end].copy_from_slice(&digest[..end - start]);
        if end < out.len()
            && let Chain::Hash(next) = &mut lane.chain
        {
            let mut next = Pkcs12Job {
                i: std::mem::take(&mut next.i),
                ..*next
            };
            pkcs12_next_i(&mut next.i, &digest[..H::OUT]);
            lanes.push(pkcs12_lane(next, lane.job, lane.index + 1));
        }
    }
}

/// RFC 7292 B.2 steps 2-4: I = S || P, the salt and the password each repeated to a whole
/// number of 64-byte blocks (the last copy truncated).
fn pkcs12_i(salt: &[u8], password: &[u8]) -> Zeroizing<Vec<u8>> {
    let slen = 64 * salt.len().div_ceil(64);
    let plen = 64 * password.len().div_ceil(64);
    let mut i = Zeroizing::new(Vec::with_capacity(slen + plen));
    i.extend(salt.iter().cycle().take(slen));
    i.extend(password.iter().cycle().take(plen));
    i
}

/// RFC 7292 B.2 step 6C: each block I_j becomes (I_j + B + 1) mod 2^512, with B the
/// digest repeated to 64 bytes.
fn pkcs12_next_i(i: &mut [u8], digest: &[u8]) {
    for block in i.chunks_exact_mut(64) {
        let mut carry = 1u16;
        for k in (0..64).rev() {
            carry += u16::from(block[k]) + u16::from(digest[k % digest.len()]);
            block[k] = carry as u8;
            carry >>= 8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs12::kdf::{Pkcs12KeyType, derive_key};
    use proptest::prelude::*;

    fn params<'a>(password: &'a [u8], salt: &'a [u8], iterations: u32) -> Params<'a> {
        Params {
            password,
            salt,
            iterations,
        }
    }

    fn pbkdf2_ours(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        derive(&mut [(
            Kdf::Pbkdf2Sha256(params(password, salt, iterations)),
            &mut out[..],
        )]);
        out
    }

    fn pbkdf2_crate(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut out);
        out
    }

    fn key_type(id: Diversifier) -> Pkcs12KeyType {
        match id {
            Diversifier::Key => Pkcs12KeyType::EncryptionKey,
            Diversifier::Iv => Pkcs12KeyType::Iv,
            Diversifier::Mac => Pkcs12KeyType::Mac,
        }
    }

    fn diversifier(id: u8) -> Diversifier {
        [Diversifier::Key, Diversifier::Iv, Diversifier::Mac][usize::from(id - 1)]
    }

    fn pkcs12_ours(sha1: bool, pw: &[u8], salt: &[u8], id: u8, n: u32, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        let kdf = if sha1 {
            Kdf::Pkcs12Sha1(params(pw, salt, n), diversifier(id))
        } else {
            Kdf::Pkcs12Sha256(params(pw, salt, n), diversifier(id))
        };
        derive(&mut [(kdf, &mut out[..])]);
        out
    }

    fn pkcs12_crate(sha1: bool, pw: &[u8], salt: &[u8], id: u8, n: u32, len: usize) -> Vec<u8> {
        let rounds = i32::try_from(n).unwrap();
        if sha1 {
            derive_key::<sha1::Sha1>(pw, salt, key_type(diversifier(id)), rounds, len)
        } else {
            derive_key::<sha2::Sha256>(pw, salt, key_type(diversifier(id)), rounds, len)
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 7914 section 11 (PBKDF2-HMAC-SHA256) and the RFC 6070 inputs with SHA-256
    /// (the published SHA-256 answers for them).
    #[test]
    fn pbkdf2_known_answers() {
        let cases: [(&[u8], &[u8], u32, &str); 6] = [
            (
                b"passwd",
                b"salt",
                1,
                "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
                 49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783",
            ),
            (
                b"Password",
                b"NaCl",
                80000,
                "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
                 a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d",
            ),
            (
                b"password",
                b"salt",
                1,
                "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
            ),
            (
                b"password",
                b"salt",
                2,
                "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43",
            ),
            (
                b"passwordPASSWORDpassword",
                b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
                4096,
                "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9",
            ),
            (
                b"pass\0word",
                b"sa\0lt",
                4096,
                "89b69d0516f829893c696226650a8687",
            ),
        ];
        for (password, salt, iterations, expected) in cases {
            let expected = hex(expected);
            assert_eq!(
                pbkdf2_ours(password, salt, iterations, expected.len()),
                expected,
                "{:?}",
                String::from_utf8_lossy(password)
            );
        }
        // RFC 6070's iteration count of 16,777,216 is too slow for a unit test; 4096 with
        // its first input is covered above and against the crate below.
    }

    /// A password longer than the HMAC block is hashed first.
    #[test]
    fn pbkdf2_long_password_and_many_blocks() {
        let password = [0x61u8; 200];
        for len in [1, 31, 32, 33, 64, 65, 100] {
            assert_eq!(
                pbkdf2_ours(&password, b"salt", 3, len),
                pbkdf2_crate(&password, b"salt", 3, len)
            );
        }
    }

    #[test]
    fn pkcs12_matches_the_crate_at_the_edges() {
        let bmp: Vec<u8> = "kat-password-ü-😀"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .chain([0, 0])
            .collect();
        for sha1 in [false, true] {
            for (pw, salt) in [
                (&bmp[..], &[1u8, 2, 3, 4, 5, 6, 7, 8][..]),
                (&[][..], &[][..]),
                (&bmp[..], &[][..]),
                (&[][..], &[9u8; 64][..]),
                (&[0x41u8; 130][..], &[7u8; 65][..]),
            ] {
                for (id, n, len) in [
                    (1, 1, 24),
                    (2, 2048, 8),
                    (3, 3, 20),
                    (3, 7, 32),
                    (1, 5, 100),
                ] {
                    assert_eq!(
                        pkcs12_ours(sha1, pw, salt, id, n, len),
                        pkcs12_crate(sha1, pw, salt, id, n, len),
                        "sha1 {sha1} id {id} n {n} len {len}"
                    );
                }
            }
        }
    }

    /// Several jobs at once give what each gives alone.
    #[test]
    fn interleaved_jobs_equal_single_jobs() {
        let bmp = [0u8, 0x61, 0, 0x62, 0, 0];
        let mut a = [0u8; 32];
        let mut b = [0u8; 45];
        let mut c = [0u8; 32];
        let mut d = [0u8; 24];
        let mut e = [0u8; 8];
        derive(&mut [
            (Kdf::Pbkdf2Sha256(params(b"pw", b"s1", 100)), &mut a[..]),
            (
                Kdf::Pkcs12Sha1(params(&bmp, b"s4", 33), Diversifier::Key),
                &mut d[..],
            ),
            (Kdf::Pbkdf2Sha256(params(b"pw", b"s2", 7)), &mut b[..]),
            (
                Kdf::Pkcs12Sha256(params(&bmp, b"s3", 50), Diversifier::Mac),
                &mut c[..],
            ),
            (
                Kdf::Pkcs12Sha1(params(&bmp, b"s5", 1), Diversifier::Iv),
                &mut e[..],
            ),
        ]);
        assert_eq!(a.to_vec(), pbkdf2_crate(b"pw", b"s1", 100, 32));
        assert_eq!(b.to_vec(), pbkdf2_crate(b"pw", b"s2", 7, 45));
        assert_eq!(c.to_vec(), pkcs12_crate(false, &bmp, b"s3", 3, 50, 32));
        assert_eq!(d.to_vec(), pkcs12_crate(true, &bmp, b"s4", 1, 33, 24));
        assert_eq!(e.to_vec(), pkcs12_crate(true, &bmp, b"s5", 2, 1, 8));
    }

    #[cfg(feature = "parallel-kdf")]
    #[test]
    fn parallel_jobs_equal_single_jobs() {
        let bmp = [0u8, 0x61, 0, 0, 0];
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        let mut c = [0u8; 32];
        derive_parallel(&mut [
            (Kdf::Pbkdf2Sha256(params(b"pw", b"s1", 3000)), &mut a[..]),
            (Kdf::Pbkdf2Sha256(params(b"pw", b"s2", 3000)), &mut b[..]),
            (
                Kdf::Pkcs12Sha256(params(&bmp, b"s3", 3000), Diversifier::Mac),
                &mut c[..],
            ),
        ]);
        assert_eq!(a.to_vec(), pbkdf2_crate(b"pw", b"s1", 3000, 32));
        assert_eq!(b.to_vec(), pbkdf2_crate(b"pw", b"s2", 3000, 32));
        assert_eq!(c.to_vec(), pkcs12_crate(false, &bmp, b"s3", 3, 3000, 32));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn pbkdf2_equals_the_pbkdf2_crate(
            password in proptest::collection::vec(any::<u8>(), 0..=200),
            salt in proptest::collection::vec(any::<u8>(), 0..=64),
            iterations in 1u32..=5000,
            len in 1usize..=100,
        ) {
            prop_assert_eq!(
                pbkdf2_ours(&password, &salt, iterations, len),
                pbkdf2_crate(&password, &salt, iterations, len)
            );
        }

        #[test]
        fn pkcs12_equals_the_pkcs12_crate(
            sha1 in any::<bool>(),
            password in proptest::collection::vec(any::<u8>(), 0..=200),
            salt in proptest::collection::vec(any::<u8>(), 0..=64),
            id in 1u8..=3,
            iterations in 1u32..=5000,
            len in 1usize..=100,
        ) {
            prop_assert_eq!(
                pkcs12_ours(sha1, &password, &salt, id, iterations, len),
                pkcs12_crate(sha1, &password, &salt, id, iterations, len)
            );
        }
    }
}
