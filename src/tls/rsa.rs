//! RSA signature verification (PKCS #1 v1.5 and PSS, RFC 8017) for what ring does not take:
//! moduli under 2048 bits with PSS or SHA-384, moduli over 8192 bits, SHA-224 and SHA-3. Node's default security
//! level accepts RSA keys from 1024 bits, and a server with a 1024-bit key signs its TLS 1.3
//! handshake with PSS. Only public-key operations on public data happen here, so the arithmetic
//! is plain (not constant-time) and small: a schoolbook multiplication and a bitwise reduction.

use super::keys::{digest, Hash};

/// The largest modulus verified, as OpenSSL's OPENSSL_RSA_MAX_MODULUS_BITS.
const MAX_MODULUS_BITS: usize = 16384;

/// An unsigned integer, little-endian 32-bit limbs, no trailing zero limbs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_be(bytes: &[u8]) -> Big {
        let mut limbs = Vec::with_capacity(bytes.len() / 4 + 1);
        for chunk in bytes.rchunks(4) {
            let mut b = [0u8; 4];
            b[4 - chunk.len()..].copy_from_slice(chunk);
            limbs.push(u32::from_be_bytes(b));
        }
        let mut n = Big(limbs);
        n.trim();
        n
    }

    fn to_be(&self, len: usize) -> Option<Vec<u8>> {
        let mut out = vec![0u8; len];
        for (i, limb) in self.0.iter().enumerate() {
            for (j, byte) in limb.to_le_bytes().iter().enumerate() {
                let pos = i * 4 + j;
                if *byte != 0 {
                    if pos >= len {
                        return None;
                    }
                    out[len - 1 - pos] = *byte;
                }
            }
        }
        Some(out)
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn bits(&self) -> usize {
        match self.0.last() {
            Some(top) => self.0.len() * 32 - top.leading_zeros() as usize,
            None => 0,
        }
    }

    fn bit(&self, i: usize) -> bool {
        self.0.get(i / 32).is_some_and(|l| l >> (i % 32) & 1 == 1)
    }

    fn cmp(&self, other: &Big) -> std::cmp::Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    fn mul(&self, other: &Big) -> Big {
        let mut out = vec![0u32; self.0.len() + other.0.len()];
        for (i, a) in self.0.iter().enumerate() {
            let mut carry = 0u64;
            for (j, b) in other.0.iter().enumerate() {
                let t = out[i + j] as u64 + (*a as u64) * (*b as u64) + carry;
                out[i + j] = t as u32;
                carry = t >> 32;
            }
            out[i + other.0.len()] = carry as u32;
        }
        let mut n = Big(out);
        n.trim();
        n
    }

    /// `self mod m`, bit by bit: shift the remainder left, bring in the next bit, subtract `m`
    /// whenever the remainder reaches it.
    fn rem(&self, m: &Big) -> Big {
        let mut r = Big(Vec::with_capacity(m.0.len() + 1));
        for i in (0..self.bits()).rev() {
            r.shl1(self.bit(i));
            if r.cmp(m) != std::cmp::Ordering::Less {
                r.sub(m);
            }
        }
        r
    }

    fn shl1(&mut self, low: bool) {
        let mut carry = u32::from(low);
        for limb in self.0.iter_mut() {
            let next = *limb >> 31;
            *limb = (*limb << 1) | carry;
            carry = next;
        }
        if carry != 0 {
            self.0.push(carry);
        }
    }

    /// `self -= other`, with `self >= other`.
    fn sub(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let t = self.0[i] as i64 - *other.0.get(i).unwrap_or(&0) as i64 - borrow;
            if t < 0 {
                self.0[i] = (t + (1i64 << 32)) as u32;
                borrow = 1;
            } else {
                self.0[i] = t as u32;
                borrow = 0;
            }
        }
        self.trim();
    }

    fn modpow(&self, e: &Big, m: &Big) -> Big {
        let mut result = Big(vec![1]).rem(m);
        for i in (0..e.bits()).rev() {
            result = result.mul(&result).rem(m);
            if e.bit(i) {
                result = result.mul(self).rem(m);
            }
        }
        result
    }
}

/// The DER prefix of a DigestInfo for `hash` (RFC 8017, 9.2 note 1).
fn digest_info_prefix(hash: Hash) -> &'static [u8] {
    match hash {
        Hash::Md5 => &[
            0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05,
            0x05, 0x00, 0x04, 0x10,
        ],
        Hash::Sha1 => &[
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ],
        Hash::Sha224 => &[
            0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x04, 0x05, 0x00, 0x04, 0x1c,
        ],
        Hash::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        Hash::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        Hash::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
        Hash::Sha3_224 => &[
            0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x07, 0x05, 0x00, 0x04, 0x1c,
        ],
        Hash::Sha3_256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x08, 0x05, 0x00, 0x04, 0x20,
        ],
        Hash::Sha3_384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x09, 0x05, 0x00, 0x04, 0x30,
        ],
        Hash::Sha3_512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x0a, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

/// The public operation: `signature^e mod n`, as `len(n)` bytes; `None` for an unusable key or
/// a signature out of range.
fn open(n: &[u8], e: &[u8], signature: &[u8]) -> Option<(Vec<u8>, usize)> {
    let n = Big::from_be(n);
    let e = Big::from_be(e);
    let bits = n.bits();
    if !(512..=MAX_MODULUS_BITS).contains(&bits) || e.bits() > 64 || e.bits() < 2 || !n.bit(0) {
        return None;
    }
    let k = bits.div_ceil(8);
    if signature.len() != k {
        return None;
    }
    let s = Big::from_be(signature);
    if s.cmp(&n) != std::cmp::Ordering::Less {
        return None;
    }
    Some((s.modpow(&e, &n).to_be(k)?, bits))
}

/// RSASSA-PKCS1-v1_5 verification.
pub fn verify_pkcs1(n: &[u8], e: &[u8], hash: Hash, message: &[u8], signature: &[u8]) -> bool {
    let Some((em, _)) = open(n, e, signature) else {
        return false;
    };
    let prefix = digest_info_prefix(hash);
    let h = digest(hash, message);
    let t_len = prefix.len() + h.len();
    if em.len() < t_len + 11 {
        return false;
    }
    let ps_end = em.len() - t_len - 1;
    em[0] == 0
        && em[1] == 1
        && em[2..ps_end].iter().all(|b| *b == 0xff)
        && em[ps_end] == 0
        && &em[ps_end + 1..ps_end + 1 + prefix.len()] == prefix
        && em[ps_end + 1 + prefix.len()..] == h[..]
}

/// RSASSA-PSS verification with MGF1 over the same digest; `salt_len` `None` takes the salt
/// length from the encoding (OpenSSL's RSA_PSS_SALTLEN_AUTO).
pub fn verify_pss(
    n: &[u8],
    e: &[u8],
    hash: Hash,
    salt_len: Option<usize>,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let Some((em_full, bits)) = open(n, e, signature) else {
        return false;
    };
    let em_bits = bits - 1;
    let em_len = em_bits.div_ceil(8);
    // With emBits a multiple of 8 the encoded message is one byte shorter than the modulus.
    let em = if em_len < em_full.len() {
        if em_full[0] != 0 {
            return false;
        }
        &em_full[1..]
    } else {
        &em_full[..]
    };
    let m_hash = digest(hash, message);
    let h_len = m_hash.len();
    if em_len < h_len + 2 || em[em_len - 1] != 0xbc {
        return false;
    }
    let db_len = em_len - h_len - 1;
    let (masked_db, rest) = em.split_at(db_len);
    let h = &rest[..h_len];
    let top_bits = 8 * em_len - em_bits;
    let top_mask = 0xffu8 >> top_bits;
    if masked_db[0] & !top_mask != 0 {
        return false;
    }
    let mut db = mgf1(hash, h, db_len);
    for (d, m) in db.iter_mut().zip(masked_db) {
        *d ^= m;
    }
    db[0] &= top_mask;
    let Some(one) = db.iter().position(|b| *b != 0) else {
        return false;
    };
    if db[one] != 1 {
        return false;
    }
    let salt = &db[one + 1..];
    if salt_len.is_some_and(|s| s != salt.len()) {
        return false;
    }
    let mut m_prime = vec![0u8; 8];
    m_prime.extend_from_slice(&m_hash);
    m_prime.extend_from_slice(salt);
    digest(hash, &m_prime) == h
}

fn mgf1(hash: Hash, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut counter = 0u32;
    while out.len() < len {
        let mut input = seed.to_vec();
        input.extend_from_slice(&counter.to_be_bytes());
        out.extend(digest(hash, &input));
        counter += 1;
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        let a = Big::from_be(&[0x01, 0x00, 0x00, 0x00, 0x01]);
        assert_eq!(a.bits(), 33);
        assert_eq!(a.to_be(5), Some(vec![1, 0, 0, 0, 1]));
        assert_eq!(a.to_be(4), None);
        let m = Big::from_be(&[97]);
        // 2^32 + 1 = 4294967297 = 97 * 44278013 + 36
        assert_eq!(a.rem(&m), Big::from_be(&[36]));
        // 3^200 mod 1000003
        let three = Big::from_be(&[3]);
        let e = Big::from_be(&[200]);
        let p = Big::from_be(&1_000_003u32.to_be_bytes());
        let mut expect = 1u64;
        for _ in 0..200 {
            expect = expect * 3 % 1_000_003;
        }
        assert_eq!(
            three.modpow(&e, &p),
            Big::from_be(&(expect as u32).to_be_bytes())
        );
    }
}
