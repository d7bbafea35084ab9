//! Stable event ids.
//!
//! An event's id is a name-based UUID (version 5, SHA-1) in the namespace [`NAMESPACE`] over
//! 36 bytes: the device id's 16 bytes, the submission id's 16 bytes, and the event's position
//! in the submission (0-based, in document order, across types) as a big-endian `u32`.
//! The same event of the same submission therefore gets the same id each time it is processed,
//! whichever collector processes it; consumers drop duplicates by id, and can recompute an id.

use sha1::{Digest, Sha1};
use uuid::{Builder, Uuid};

/// The namespace of event ids (a fixed random UUID of this project).
pub const NAMESPACE: Uuid = uuid::uuid!("5b0e3f0c-6a1d-4f7e-9a4b-2c8d1e7f3a60");

/// The id of the event at `position` of the submission `submission_id` from `device_id`.
pub fn event_id(device_id: Uuid, submission_id: Uuid, position: u32) -> Uuid {
    let mut name = [0u8; 36];
    name[..16].copy_from_slice(device_id.as_bytes());
    name[16..32].copy_from_slice(submission_id.as_bytes());
    name[32..].copy_from_slice(&position.to_be_bytes());
    // What `Uuid::new_v5(&NAMESPACE, &name)` computes, with the `sha1` crate, which uses the
    // CPU's SHA instructions where it has them (uuid's own SHA-1 is portable code); equal by
    // test.
    let mut hash = Sha1::new();
    hash.update(NAMESPACE.as_bytes());
    hash.update(name);
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Builder::from_sha1_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: Uuid = uuid::uuid!("31980191-fa99-4768-8a7b-0e81397ca6ef");
    const SUB: Uuid = uuid::uuid!("8be01974-0f15-4d4f-809f-257a6de4d3f9");

    #[test]
    fn is_stable_and_version_5() {
        let a = event_id(DEV, SUB, 3);
        assert_eq!(a, event_id(DEV, SUB, 3));
        assert_eq!(a.get_version_num(), 5);
    }

    #[test]
    fn differs_by_position_submission_and_device() {
        let base = event_id(DEV, SUB, 0);
        assert_ne!(base, event_id(DEV, SUB, 1));
        assert_ne!(base, event_id(SUB, DEV, 0));
        assert_ne!(base, event_id(DEV, Uuid::nil(), 0));
    }

    #[test]
    fn matches_an_independent_computation() {
        // uuid5(NAMESPACE, dev.bytes + sub.bytes + (7).to_bytes(4, "big")) in Python gives this.
        let mut name = Vec::new();
        name.extend_from_slice(DEV.as_bytes());
        name.extend_from_slice(SUB.as_bytes());
        name.extend_from_slice(&[0, 0, 0, 7]);
        assert_eq!(event_id(DEV, SUB, 7), Uuid::new_v5(&NAMESPACE, &name));
    }

    proptest::proptest! {
        #[test]
        fn is_uuids_own_version_5(dev: u128, sub: u128, position: u32) {
            let (dev, sub) = (Uuid::from_u128(dev), Uuid::from_u128(sub));
            let mut name = Vec::new();
            name.extend_from_slice(dev.as_bytes());
            name.extend_from_slice(sub.as_bytes());
            name.extend_from_slice(&position.to_be_bytes());
            proptest::prop_assert_eq!(event_id(dev, sub, position), Uuid::new_v5(&NAMESPACE, &name));
        }
    }
}
