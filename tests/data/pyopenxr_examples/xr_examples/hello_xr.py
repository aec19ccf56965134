from xr_examples.hello_xr.main import main

if __name__ == "__main__":
    main()
