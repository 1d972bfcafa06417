use super::*;

#[test]
fn placeholder_for_helper() {
    let _ = input_schema(&[]);
}
