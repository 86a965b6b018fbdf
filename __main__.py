"""Multi-region IoT: one Pulumi stack per AWS region.

Reads config, builds the components, exports. The primary stack (no `primaryStack` config) also
owns the global tables; every other stack reads them from the primary through a stack reference.
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.config import read_settings, shared_from_exports
from components.context import RegionContext
from components.global_tables import GlobalTables, GlobalTablesArgs
from components.material import load_material
from components.region import Region, RegionArgs
from components.stack_reference import read_primary_outputs

PROJECT_DIR = Path(__file__).resolve().parent

settings = read_settings(PROJECT_DIR)


def region_context() -> RegionContext:
    """What every component of this region shares; asked for once the config is checked (it calls AWS)."""
    return RegionContext.of(settings, aws.get_caller_identity().account_id, functions_dir=PROJECT_DIR / "functions",
                            build_cache_dir=PROJECT_DIR / ".build" / "lambda")


if settings.primary_stack is None:
    shared = settings.shared
    assert shared is not None, "read_settings gives a primary stack its shared settings"
    material = load_material(settings, shared.domain_name)
    context = region_context()
    tables = GlobalTables("global", GlobalTablesArgs(
        context=context,
        replica_regions=[r for r in shared.regions if r != settings.region],
        removable_regions=settings.removable_regions))
    inventory_table, data_table = tables.inventory.name, tables.data.name
    stream_arn = tables.inventory_stream_arns.apply(lambda arns: arns[settings.region])
    validation_record_fqdns = None  # the primary writes the ACM validation record
    for key, value in shared.to_exports().items():
        pulumi.export(key, value)
    pulumi.export("inventoryTableName", inventory_table)
    pulumi.export("dataTableName", data_table)
    allow_list_table = tables.allow_list.name
    pulumi.export("allowListTableName", allow_list_table)
    pulumi.export("inventoryStreamArns", tables.inventory_stream_arns)
    provisioning_validation_record_fqdns = None
else:
    primary = read_primary_outputs(settings.primary_stack)
    shared = shared_from_exports(primary.outputs, settings.region, settings.primary_stack)
    material = load_material(settings, shared.domain_name)
    inventory_table, data_table = primary.outputs["inventoryTableName"], primary.outputs["dataTableName"]
    allow_list_table = primary.outputs.get("allowListTableName")  # None from a primary deployed before it
    stream_arn = primary.stream_arn_for(settings.region)
    validation_record_fqdns = primary.validation_record_fqdns()
    provisioning_validation_record_fqdns = primary.outputs.get("provisioningValidationRecordFqdns")
    pulumi.export("primaryStack", settings.primary_stack)
    context = region_context()

region = Region(settings.region, RegionArgs(
    settings=settings, shared=shared, context=context, material=material,
    inventory_table_name=inventory_table, data_table_name=data_table, inventory_stream_arn=stream_arn,
    allow_list_table_name=allow_list_table,
    provisioning_validation_record_fqdns=provisioning_validation_record_fqdns,
    validation_record_fqdns=validation_record_fqdns))
for key, value in region.outputs.items():
    pulumi.export(key, value)
