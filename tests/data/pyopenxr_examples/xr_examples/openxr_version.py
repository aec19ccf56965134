import xr

print(f"OpenXR version {xr.version.XR_CURRENT_API_VERSION}")
