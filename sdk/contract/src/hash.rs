//! BLAKE3 as a `const fn`, for inputs of up to one chunk (1,024 bytes).
//!
//! Message selectors (`blake3(name)[..4]`) and event signatures (`blake3(name)`) are
//! computed with it at compile time, so dispatch compares constants and never calls the
//! host to hash a name. Names are identifiers, far below the one-chunk limit; a longer
//! input is a compile-time error when evaluated in a const context. At run time, hash
//! arbitrary data with [`crate::env::hash_blake3`] instead.

const IV: [u32; 8] = [
    0x6A09_E667,
    0xBB67_AE85,
    0x3C6E_F372,
    0xA54F_F53A,
    0x510E_527F,
    0x9B05_688C,
    0x1F83_D9AB,
    0x5BE0_CD19,
];

const MSG_PERMUTATION: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

const CHUNK_START: u32 = 1;
const CHUNK_END: u32 = 2;
const ROOT: u32 = 8;

const BLOCK_LEN: usize = 64;
/// The longest input [`blake3()`] accepts: one BLAKE3 chunk.
pub const MAX_CONST_INPUT: usize = 1024;

#[allow(clippy::too_many_arguments)]
const fn g(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize, mx: u32, my: u32) {
    s[a] = s[a].wrapping_add(s[b]).wrapping_add(mx);
    s[d] = (s[d] ^ s[a]).rotate_right(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_right(12);
    s[a] = s[a].wrapping_add(s[b]).wrapping_add(my);
    s[d] = (s[d] ^ s[a]).rotate_right(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_right(7);
}

const fn round(s: &mut [u32; 16], m: &[u32; 16]) {
    g(s, 0, 4, 8, 12, m[0], m[1]);
    g(s, 1, 5, 9, 13, m[2], m[3]);
    g(s, 2, 6, 10, 14, m[4], m[5]);
    g(s, 3, 7, 11, 15, m[6], m[7]);
    g(s, 0, 5, 10, 15, m[8], m[9]);
    g(s, 1, 6, 11, 12, m[10], m[11]);
    g(s, 2, 7, 8, 13, m[12], m[13]);
    g(s, 3, 4, 9, 14, m[14], m[15]);
}

const fn compress(cv: &[u32; 8], block: &[u32; 16], block_len: u32, flags: u32) -> [u32; 16] {
    // The chunk counter is always 0: only the first chunk is ever hashed here.
    let mut s = [
        cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7], IV[0], IV[1], IV[2], IV[3], 0, 0,
        block_len, flags,
    ];
    let mut m = *block;
    let mut r = 0;
    while r < 7 {
        round(&mut s, &m);
        let mut permuted = [0u32; 16];
        let mut i = 0;
        while i < 16 {
            permuted[i] = m[MSG_PERMUTATION[i]];
            i += 1;
        }
        m = permuted;
        r += 1;
    }
    let mut i = 0;
    while i < 8 {
        s[i] ^= s[i + 8];
        s[i + 8] ^= cv[i];
        i += 1;
    }
    s
}

/// The BLAKE3 hash of `input`, computed in a `const` context if needed.
///
/// # Panics
/// If `input` is longer than [`MAX_CONST_INPUT`] bytes (a compile error in const context).
pub const fn blake3(input: &[u8]) -> [u8; 32] {
    assert!(
        input.len() <= MAX_CONST_INPUT,
        "const blake3 only hashes inputs of up to 1024 bytes"
    );
    let mut cv = IV;
    let mut offset = 0;
    let mut first = true;
    loop {
        let remaining = input.len() - offset;
        let last = remaining <= BLOCK_LEN;
        let take = if last { remaining } else { BLOCK_LEN };
        let mut bytes = [0u8; BLOCK_LEN];
        let mut i = 0;
        while i < take {
            bytes[i] = input[offset + i];
            i += 1;
        }
        let mut words = [0u32; 16];
        let mut w = 0;
        while w < 16 {
            words[w] = u32::from_le_bytes([
                bytes[4 * w],
                bytes[4 * w + 1],
                bytes[4 * w + 2],
                bytes[4 * w + 3],
            ]);
            w += 1;
        }
        let mut flags = if first { CHUNK_START } else { 0 };
        if last {
            flags |= CHUNK_END | ROOT;
        }
        let out = compress(&cv, &words, take as u32, flags);
        if last {
            let mut hash = [0u8; 32];
            let mut k = 0;
            while k < 8 {
                let b = out[k].to_le_bytes();
                hash[4 * k] = b[0];
                hash[4 * k + 1] = b[1];
                hash[4 * k + 2] = b[2];
                hash[4 * k + 3] = b[3];
                k += 1;
            }
            return hash;
        }
        let mut k = 0;
        while k < 8 {
            cv[k] = out[k];
            k += 1;
        }
        offset += BLOCK_LEN;
        first = false;
    }
}

/// The 4-byte selector of a message or constructor: `blake3(name)[..4]`.
pub const fn selector(name: &str) -> [u8; 4] {
    let h = blake3(name.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

/// The first topic of an event: `blake3(event name)`.
pub const fn event_signature(name: &str) -> [u8; 32] {
    blake3(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_blake3_at_block_boundaries() {
        let data: [u8; MAX_CONST_INPUT] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        for len in [0, 1, 3, 63, 64, 65, 127, 128, 129, 500, 1023, 1024] {
            let expected = ::blake3::hash(&data[..len]);
            assert_eq!(&blake3(&data[..len]), expected.as_bytes(), "length {len}");
        }
    }

    #[test]
    fn selectors_are_hash_prefixes_and_const() {
        const SEL: [u8; 4] = selector("transfer");
        let full = ::blake3::hash(b"transfer");
        assert_eq!(SEL, full.as_bytes()[..4]);
        assert_eq!(
            &event_signature("Transfer"),
            ::blake3::hash(b"Transfer").as_bytes()
        );
    }
}
