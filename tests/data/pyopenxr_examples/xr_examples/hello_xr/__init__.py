"""
Based on example from https://github.com/KhronosGroup/OpenXR-SDK-Source/tree/main/src/tests/hello_xr
"""

from xr_examples.hello_xr.main import main

if __name__ == "__main__":
    main()
