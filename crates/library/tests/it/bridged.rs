//! Bridged devices (src/bridged.rs): a member writes play records for a device that is not
//! a realm member, under that device's own key, and nobody else can.

use skypod_library::{Library, bridged_device_id, episode_key};

#[test]
fn a_member_writes_for_its_bridged_device_only() {
    let mut node = Library::new("node-id").unwrap();
    let phone = bridged_device_id("node-id", "gpodder", "alice", "phone");
    let ep = episode_key("https://pod.example/feed.xml", "ep-1").unwrap();

    // Not registered yet: refused.
    assert!(
        node.as_bridged(&phone, None, |l| l.set_position(&ep, 1.0, None))
            .is_err()
    );
    // Outside this member's namespace: refused.
    let theirs = bridged_device_id("other-node", "gpodder", "alice", "phone");
    assert!(node.register_bridged(&theirs, "x", "gpodder").is_err());
    assert!(node.register_bridged("laptop-id", "x", "gpodder").is_err());

    node.register_bridged(&phone, "AntennaPod (mobile) via node", "gpodder")
        .unwrap();
    node.as_bridged(&phone, Some(1_700_000_000_000), |l| {
        l.set_position(&ep, 754.0, Some(3600.0))
    })
    .unwrap();
    // The member's own records are untouched, and it is itself again afterwards.
    assert_eq!(node.device(), "node-id");
    assert!(node.my_play(&ep).is_none());
    let rec = node.play(&phone, &ep).unwrap();
    assert_eq!((rec.position, rec.updated), (754.0, 1_700_000_000_000));

    // Another replica sees the phone as a named device in "continue from".
    let mut laptop = Library::new("laptop-id").unwrap();
    laptop.merge(&mut node).unwrap();
    let resume = laptop.resume_offer(&ep).unwrap();
    assert_eq!(resume.device, phone);
    assert_eq!(
        resume.device_name.as_deref(),
        Some("AntennaPod (mobile) via node")
    );
    assert!(laptop.is_bridged(&phone));
    let listed = laptop.bridged_devices();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].bridged_by, "node-id");
    // ...and cannot write for it.
    assert!(
        laptop
            .as_bridged(&phone, None, |l| l.set_position(&ep, 1.0, None))
            .is_err()
    );
}
