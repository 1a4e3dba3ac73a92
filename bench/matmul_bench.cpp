#include "cpu/matmul.h"
#include <chrono>
#include <cstdio>
#include <vector>
#include <omp.h>
using namespace alibi::cpu;
int main(){
  auto bench=[&](int64_t N,int64_t C,int64_t OC){
    std::vector<float> inp(N*C,0.5f),w(OC*C,0.25f),b(OC,1),out(N*OC),dinp(N*C),dw(OC*C),db(OC);
    for(size_t i=0;i<inp.size();++i) inp[i]=(i%7)*0.1f;
    matmul_forward(out.data(),inp.data(),w.data(),b.data(),N,C,OC);
    int reps=10; auto t0=std::chrono::steady_clock::now();
    for(int r=0;r<reps;++r) matmul_forward(out.data(),inp.data(),w.data(),b.data(),N,C,OC);
    auto t1=std::chrono::steady_clock::now();
    for(int r=0;r<reps;++r) matmul_backward(dinp.data(),dw.data(),db.data(),out.data(),inp.data(),w.data(),N,C,OC);
    auto t2=std::chrono::steady_clock::now();
    double f=std::chrono::duration<double>(t1-t0).count()/reps, bw=std::chrono::duration<double>(t2-t1).count()/reps;
    printf("N=%ld C=%ld OC=%ld fwd %.3f ms (%.1f GF/s) bwd %.3f ms (%.1f GF/s)\n",N,C,OC,f*1e3,2.0*N*C*OC/f/1e9,bw*1e3,4.0*N*C*OC/bw/1e9);
  };
  bench(1024,128,384); bench(1024,128,128); bench(1024,128,512); bench(1024,512,128); bench(1024,128,8192);
}
