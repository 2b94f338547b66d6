//! naga validation of WGSL: parse, then validate the module with every check on. Subgroup operations are
//! allowed (a kernel uses them only where legality found the device offers them).

/// Validates a WGSL module; the error is naga's message with source context.
pub fn validate(wgsl: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(wgsl).map_err(|e| e.emit_to_string(wgsl))?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::SUBGROUP)
        .validate(&module)
        .map_err(|e| e.emit_to_string(wgsl))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rejects_broken_wgsl_with_a_reason() {
        let err = super::validate("@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }").unwrap_err();
        assert!(!err.is_empty());
        assert!(super::validate("@compute @workgroup_size(1) fn main() { }").is_ok());
    }
}
