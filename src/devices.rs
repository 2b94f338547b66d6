//! `litecoop devices`: what adapters there are and which one is used by default.

use crate::table::Table;
use clap::Args;
use litecoop_gpu::device::{choose, list_adapters};

/// Arguments of `litecoop devices`.
#[derive(Args)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Lists adapters; marks the default choice.
pub fn main(args: DevicesArgs) -> anyhow::Result<i32> {
    let list = list_adapters();
    let default = choose(&list, None).ok();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "adapters": list, "default": default }))?);
        return Ok(0);
    }
    if list.is_empty() {
        println!("No GPU adapter found. On Debian/Ubuntu, `scripts/setup` installs Mesa's software Vulkan driver (lavapipe).");
        return Ok(1);
    }
    let mut t = Table::new(&[
        "#",
        "name",
        "backend",
        "type",
        "driver",
        "invocations",
        "wg memory",
        "binding MiB",
        "timestamps",
        "subgroups",
    ]);
    for a in &list {
        let mark = if Some(a.index) == default { "*" } else { " " };
        t.row(vec![
            format!("{}{mark}", a.index),
            a.name.clone(),
            a.backend.clone(),
            a.device_type.clone(),
            format!("{} {}", a.driver, a.driver_info).trim().to_string(),
            a.limits.max_invocations_per_workgroup.to_string(),
            a.limits.max_workgroup_storage_bytes.to_string(),
            (a.limits.max_storage_buffer_binding_size >> 20).to_string(),
            a.timestamp_query.to_string(),
            match (a.limits.min_subgroup_size, a.limits.max_subgroup_size) {
                (_, 0) => "no".to_string(),
                (least, most) if least == most => most.to_string(),
                (least, most) => format!("{least}-{most}"),
            },
        ]);
    }
    print!("{}", t.render());
    println!("* = used by default (discrete, then integrated, then CPU); choose another with --adapter INDEX|NAME");
    Ok(0)
}
