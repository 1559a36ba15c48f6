"""meta.k8s.io Table and PartialObjectMetadata renderings of objects (server-side printing)."""


def partial_metadata(obj, api_version="meta.k8s.io/v1"):
    return {"kind": "PartialObjectMetadata", "apiVersion": api_version,
            "metadata": obj["metadata"]}


def partial_metadata_list(items, list_meta, api_version="meta.k8s.io/v1"):
    return {"kind": "PartialObjectMetadataList", "apiVersion": api_version,
            "metadata": list_meta, "items": [partial_metadata(o, api_version) for o in items]}


def _row(columns, obj, include_object, api_version):
    row = {"cells": [column.cell(obj) for column in columns]}
    if include_object == "Object":
        row["object"] = obj
    elif include_object != "None":
        row["object"] = partial_metadata(obj, api_version)
    return row


def table(rtype, objects, list_meta, include_object="Metadata", api_version="meta.k8s.io/v1",
          with_headers=True):
    columns = rtype.table_columns()
    definitions = [{"name": c.name, "type": c.type, "format": c.format,
                    "description": c.description, "priority": c.priority} for c in columns]
    return {"kind": "Table", "apiVersion": api_version, "metadata": list_meta,
            "columnDefinitions": definitions if with_headers else None,
            "rows": [_row(columns, obj, include_object, api_version) for obj in objects]}
