/* vrmed simulated OpenXR runtime: the C shim the OpenXR loader dlopens.
 *
 * The loader only talks to a runtime through xrNegotiateLoaderRuntimeInterface, which
 * hands back xrGetInstanceProcAddr. Every OpenXR function of the simulated runtime is
 * written in Python (vrmed/xr/sim/runtime.py) and exposed as a ctypes callback; Python
 * loads this same library (dlopen returns the same mapping the loader gets), stores the
 * callback's address with vrmed_xr_sim_install, and the loader then receives it here.
 *
 * Built with -fvisibility=hidden: the only exported symbols are the negotiate function
 * and vrmed_xr_sim_install (prefixed so it can never collide with an OpenXR symbol).
 *
 * An unmodified Python OpenXR application (XR_RUNTIME_JSON pointing at this runtime, no
 * vrmed call of its own) reaches negotiation with nothing installed. If the process hosts
 * a Python interpreter, the shim then asks it to install one (vrmed.xr.sim.bootstrap), so
 * any pyopenxr program can run against the simulated headset; in any other process the
 * loader is told the runtime is unavailable.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EXPORT __attribute__((visibility("default")))

typedef int32_t XrResult;
typedef uint64_t XrVersion;
typedef void (*PFN_xrVoidFunction)(void);
typedef XrResult (*PFN_xrGetInstanceProcAddr)(void *instance, const char *name, PFN_xrVoidFunction *function);

enum {
    XR_LOADER_INTERFACE_STRUCT_LOADER_INFO = 1,
    XR_LOADER_INTERFACE_STRUCT_RUNTIME_REQUEST = 3,
};
#define XR_ERROR_INITIALIZATION_FAILED (-6)
#define XR_ERROR_RUNTIME_UNAVAILABLE (-51)
#define XR_SUCCESS 0

typedef struct XrNegotiateLoaderInfo {
    int32_t structType;
    uint32_t structVersion;
    size_t structSize;
    uint32_t minInterfaceVersion;
    uint32_t maxInterfaceVersion;
    XrVersion minApiVersion;
    XrVersion maxApiVersion;
} XrNegotiateLoaderInfo;

typedef struct XrNegotiateRuntimeRequest {
    int32_t structType;
    uint32_t structVersion;
    size_t structSize;
    uint32_t runtimeInterfaceVersion;
    XrVersion runtimeApiVersion;
    PFN_xrGetInstanceProcAddr getInstanceProcAddr;
} XrNegotiateRuntimeRequest;

/* Process-wide by necessity: the loader finds the runtime through this library only. */
static PFN_xrGetInstanceProcAddr g_get_instance_proc_addr = NULL;
static XrVersion g_api_version = 0;
/* Set by an explicit uninstall (install with NULL): then no bootstrap either. */
static int g_uninstalled = 0;

EXPORT void vrmed_xr_sim_install(PFN_xrGetInstanceProcAddr gipa, XrVersion api_version) {
    g_get_instance_proc_addr = gipa;
    g_api_version = api_version;
    g_uninstalled = gipa == NULL;
}

/* Python's C API, looked up at run time: the shim never links against libpython. */
typedef int (*PFN_Py_IsInitialized)(void);
typedef int (*PFN_PyGILState_Ensure)(void);
typedef void (*PFN_PyGILState_Release)(int);
typedef int (*PFN_PyRun_SimpleString)(const char *);

static void bootstrap_python(void) {
    PFN_Py_IsInitialized is_initialized;
    PFN_PyGILState_Ensure gil_ensure;
    PFN_PyGILState_Release gil_release;
    PFN_PyRun_SimpleString run;
    /* POSIX dlsym returns object pointers; this is its documented idiom for functions. */
    *(void **)(&is_initialized) = dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    *(void **)(&gil_ensure) = dlsym(RTLD_DEFAULT, "PyGILState_Ensure");
    *(void **)(&gil_release) = dlsym(RTLD_DEFAULT, "PyGILState_Release");
    *(void **)(&run) = dlsym(RTLD_DEFAULT, "PyRun_SimpleString");
    if (!is_initialized || !gil_ensure || !gil_release || !run || !is_initialized()) {
        return;
    }
    Dl_info self;
    if (!dladdr((void *)&vrmed_xr_sim_install, &self) || self.dli_fname == NULL) {
        return;
    }
    /* The library's own path, as a bytes literal of \x escapes (any file name is safe). */
    char code[8192];
    size_t n = (size_t)snprintf(code, sizeof code, "import vrmed.xr.sim\nvrmed.xr.sim.bootstrap(b'");
    for (const unsigned char *p = (const unsigned char *)self.dli_fname; *p; ++p) {
        if (n + 8 >= sizeof code) {
            return;
        }
        n += (size_t)snprintf(code + n, sizeof code - n, "\\x%02x", *p);
    }
    snprintf(code + n, sizeof code - n, "')\n");
    int gil = gil_ensure();
    run(code); /* prints its own traceback; the runtime then stays unavailable */
    gil_release(gil);
}

EXPORT XrResult xrNegotiateLoaderRuntimeInterface(const XrNegotiateLoaderInfo *info,
                                                  XrNegotiateRuntimeRequest *request) {
    if (info == NULL || request == NULL ||
        info->structType != XR_LOADER_INTERFACE_STRUCT_LOADER_INFO || info->structVersion != 1 ||
        info->structSize != sizeof(XrNegotiateLoaderInfo) ||
        request->structType != XR_LOADER_INTERFACE_STRUCT_RUNTIME_REQUEST || request->structVersion != 1 ||
        request->structSize != sizeof(XrNegotiateRuntimeRequest)) {
        return XR_ERROR_INITIALIZATION_FAILED;
    }
    if (info->minInterfaceVersion > 1 || info->maxInterfaceVersion < 1) {
        return XR_ERROR_INITIALIZATION_FAILED;
    }
    /* Only major version 1 is implemented; the version field is major:16 minor:16 patch:32. */
    if ((info->minApiVersion >> 48) > 1 || (info->maxApiVersion >> 48) < 1) {
        return XR_ERROR_INITIALIZATION_FAILED;
    }
    if (g_get_instance_proc_addr == NULL && !g_uninstalled) {
        bootstrap_python();
    }
    if (g_get_instance_proc_addr == NULL) {
        /* Nobody in this process started the Python side (vrmed.xr.sim.install). */
        return XR_ERROR_RUNTIME_UNAVAILABLE;
    }
    request->runtimeInterfaceVersion = 1;
    request->runtimeApiVersion = g_api_version;
    request->getInstanceProcAddr = g_get_instance_proc_addr;
    return XR_SUCCESS;
}
