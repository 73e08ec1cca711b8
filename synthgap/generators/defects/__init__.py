"""Defect geometry (no GL): surface marks (`surface`), shape changes by mesh booleans
(`geometry`) and the features they sit on (`features`)."""
