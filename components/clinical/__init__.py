"""Clinical components: patients, casualties, monitors and the population arrays."""

from .patient import (
    ARREST_FIRST,
    AVPU,
    DRUG_INDEX,
    DRUGS,
    PATIENT_SETTABLE,
    PATIENT_VARS,
    RHYTHM_CODE,
    RHYTHMS,
    SHOCKABLE,
    Casualty,
    CompressionSensor,
    Patient,
    PatientIdentity,
    PatientMonitor,
    PatientPopulation,
)

__all__ = [
    "ARREST_FIRST",
    "AVPU",
    "Casualty",
    "CompressionSensor",
    "DRUGS",
    "DRUG_INDEX",
    "PATIENT_SETTABLE",
    "PATIENT_VARS",
    "Patient",
    "PatientIdentity",
    "PatientMonitor",
    "PatientPopulation",
    "RHYTHMS",
    "RHYTHM_CODE",
    "SHOCKABLE",
]
